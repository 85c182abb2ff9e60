"""Same-host shared-memory payloads: zero copy on receive, reuse detection, hostile references."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from orstream.stream import (
    SHM_DIR,
    LatestFrameSource,
    ShmFollower,
    ShmReader,
    ShmRingWriter,
    WireError,
    ZmqFrameSender,
    ZmqFrameSource,
    decode,
    decode_shm_slot,
    encode_header,
    futex_available,
    make_frame,
    shm_available,
)

pytestmark = pytest.mark.skipif(not shm_available(), reason="needs /dev/shm (Linux)")


def _pair() -> tuple[ZmqFrameSender, ZmqFrameSource]:
    """A shm PUB and a SUB whose queues hold every test message (no high-water-mark drops)."""
    sender = ZmqFrameSender("zmq+tcp://127.0.0.1:0?bind=1&shm=1", pattern="pub", hwm=100)
    source = ZmqFrameSource("zmq+" + sender.last_endpoint, pattern="sub", hwm=100)
    probe = make_frame(np.zeros((4, 4), np.uint8), "probe", 0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # PUB/SUB slow joiner: wait until frames flow
        sender.send(probe)
        if source.recv(0.05) is not None:
            break
    while source.recv(0.05) is not None:
        pass
    return sender, source


def test_frames_arrive_bit_exact_as_read_only_views_on_shared_memory() -> None:
    sender, source = _pair()
    pixels = np.random.default_rng(0).integers(0, 65535, (1024, 1024), np.uint16)
    sender.send(make_frame(pixels, "fluoro", 1, spacing_mm=(0.25, 0.25)))
    frame = source.recv(2.0)
    assert frame is not None and frame.seq == 1 and frame.spacing_mm == (0.25, 0.25)
    assert np.array_equal(frame.pixels, pixels)
    assert not frame.pixels.flags.writeable and not frame.pixels.flags.owndata
    assert frame.pixels.ctypes.data % 64 == 0
    assert frame.lease is not None and frame.intact()
    assert sender._ring is not None
    assert (SHM_DIR / sender._ring.name).exists()
    name = sender._ring.name
    sender.close()
    source.close()
    assert not (SHM_DIR / name).exists(), "the sender unlinks its segment on close"
    assert np.array_equal(frame.pixels, pixels), "a received frame outlives the sender's close"


def test_small_frames_go_on_the_socket() -> None:
    sender, source = _pair()
    sender.send(make_frame(np.ones((64, 64), np.uint8), "small", 3))
    frame = source.recv(2.0)
    assert frame is not None and frame.lease is None
    sender.close()
    source.close()


def test_a_reused_slot_is_an_overrun_not_a_malformed_message() -> None:
    sender, source = _pair()
    ring_slots = 16
    for seq in range(ring_slots + 4):
        sender.send(make_frame(np.full((512, 1024), seq, np.uint8), "s", seq))
    received = []
    while (frame := source.recv(0.3)) is not None:
        received.append(frame)
    assert source.overruns == 4 and source.malformed.total == 0
    assert [f.seq for f in received] == list(range(4, ring_slots + 4))
    held = received[0]
    assert held.intact()
    sender.send(make_frame(np.zeros((512, 1024), np.uint8), "s", 99))  # reuses held's slot
    assert not held.intact()
    sender.close()
    source.close()


def test_a_lossless_pull_source_refuses_shared_memory_frames() -> None:
    ring = ShmRingWriter(1 << 16)
    pixels = np.zeros((256, 256), np.uint8)
    header = json.dumps(
        {
            "v": 1,
            "stream": "s",
            "seq": 0,
            "t_capture_ns": 1,
            "dtype": "uint8",
            "shape": [256, 256],
            "shm": ring.put(pixels, b"{}"),
        }
    ).encode()
    with pytest.raises(WireError) as info:
        decode([header, b""])
    assert info.value.kind == "shm"
    frame = decode([header, b""], shm_reader=ShmReader())
    assert np.array_equal(frame.pixels, pixels)
    ring.close()


@pytest.mark.parametrize(
    "ref",
    [
        "not an object",
        {"segment": "../../etc/passwd", "offset": 64, "nbytes": 65536, "gen": 2},
        {"segment": "orstream-does-not-exist", "offset": 64, "nbytes": 65536, "gen": 2},
        {"segment": None, "offset": 64, "nbytes": 65536, "gen": 2},
        {"segment": "RING", "offset": 64, "nbytes": 65536, "gen": True},
        {"segment": "RING", "offset": -1, "nbytes": 65536, "gen": 2},
        {"segment": "RING", "offset": 1 << 40, "nbytes": 65536, "gen": 2},
        {"segment": "RING", "offset": 65, "nbytes": 65536, "gen": 2},
        {"segment": "RING", "offset": 0, "nbytes": 65536, "gen": 2},
        {"segment": "RING", "offset": 64, "nbytes": 100, "gen": 2},
        {"segment": "RING", "offset": 64, "nbytes": 65536, "gen": 7},
    ],
)
def test_hostile_references_are_wire_errors(ref: object) -> None:
    ring = ShmRingWriter(1 << 16, slots=2)
    ring.put(np.zeros((256, 256), np.uint8), b"{}")
    if isinstance(ref, dict) and ref.get("segment") == "RING":
        ref = {**ref, "segment": ring.name}
    header = json.dumps(
        {
            "v": 1,
            "stream": "s",
            "seq": 0,
            "t_capture_ns": 1,
            "dtype": "uint8",
            "shape": [256, 256],
            "shm": ref,
        }
    ).encode()
    with pytest.raises(WireError) as info:
        decode([header, b""], shm_reader=ShmReader())
    assert info.value.kind in ("shm", "overrun")
    ring.close()


def test_shm_needs_a_live_pub_sender_on_this_machine() -> None:
    with pytest.raises(ValueError, match="shm=1"):
        ZmqFrameSender("zmq+tcp://127.0.0.1:0?bind=1&shm=1", pattern="push")
    with pytest.raises(ValueError, match="shm=1"):
        ZmqFrameSender("zmq+tcp://*:0?shm=1", pattern="pub")


def test_a_follower_reads_the_newest_slot_header_and_pixels_without_the_socket() -> None:
    if not futex_available():
        pytest.skip("needs Linux futexes")
    ring = ShmRingWriter(1 << 20)
    reader = ShmReader()
    first = make_frame(np.full((512, 1024), 7, np.uint8), "s", 1, spacing_mm=(0.3, 0.3))
    ring.put(first.pixels, encode_header(first))  # the segment exists before we follow it
    follower = ShmFollower(reader, ring.name)
    assert follower.wait(0.01) is None, "nothing new since we started following"
    pixels = np.random.default_rng(1).integers(0, 255, (512, 1024), dtype=np.uint8)
    second = make_frame(pixels, "s", 2, modality="us", spacing_mm=(0.3, 0.3))
    ring.put(second.pixels, encode_header(second))
    got = follower.wait(1.0)
    assert got is not None
    frame = decode_shm_slot(*got, reader)
    assert frame.seq == 2 and frame.modality == "us" and frame.spacing_mm == (0.3, 0.3)
    assert np.array_equal(frame.pixels, pixels) and frame.intact()
    ring.close()


def test_live_source_follows_the_ring_and_delivers_each_frame_once() -> None:
    if not futex_available():
        pytest.skip("needs Linux futexes")
    sender, source = _pair()
    tapped: list[int] = []
    live = LatestFrameSource(source, tap=lambda frame: tapped.append(frame.seq))
    shown: list[int] = []
    for seq in range(40):
        value = (1000 + seq) % 256
        sender.send(make_frame(np.full((512, 1024), value, np.uint8), "s", 1000 + seq))
        frame = live.recv(2.0)
        assert frame is not None and int(frame.pixels[0, 0]) == frame.seq % 256
        shown.append(frame.seq)
        time.sleep(0.01)
    time.sleep(0.3)
    while (frame := live.recv(0.05)) is not None:
        shown.append(frame.seq)
    stats = live.stats()
    live.close()
    sender.close()
    assert shown == sorted(set(shown)), "no frame twice, none out of order"
    assert shown[-1] == 1039
    assert stats["followed"] > 0, "the follower delivered frames before the socket"
    assert tapped == [1000 + seq for seq in range(40)], "the recording tap sees every frame once"
