"""Same-host shared-memory payloads: zero copy on receive, reuse detection, hostile references."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TypeVar

import numpy as np
import pytest

from orstream.stream import (
    SHM_DIR,
    Frame,
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
from tests._helpers import FAILURE_BOUND_S, wait_until

pytestmark = pytest.mark.skipif(not shm_available(), reason="needs /dev/shm (Linux)")
CAN_PULL = LatestFrameSource._pull_rings  # futex_waitv: recv() itself waits on the rings


@pytest.fixture(params=["pull", "thread"])
def follow_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How a LatestFrameSource follows rings: recv() itself (Linux 5.16+) or a thread each."""
    if not futex_available():
        pytest.skip("needs Linux futexes")
    if request.param == "pull" and not CAN_PULL:
        pytest.skip("needs futex_waitv (Linux 5.16+)")
    monkeypatch.setattr(LatestFrameSource, "_pull_rings", request.param == "pull")
    return str(request.param)


_T = TypeVar("_T", ZmqFrameSender, ZmqFrameSource, LatestFrameSource)


class _Closer:
    """``closing(thing)`` returns ``thing`` and closes it when the test ends, passed or failed
    (a ZeroMQ context left open by a failed test can block the interpreter at collection)."""

    def __init__(self) -> None:
        self.opened: list[ZmqFrameSender | ZmqFrameSource | LatestFrameSource] = []

    def __call__(self, thing: _T) -> _T:
        self.opened.append(thing)
        return thing


@pytest.fixture
def closing() -> Iterator[_Closer]:
    closer = _Closer()
    yield closer
    for thing in reversed(closer.opened):
        thing.close()


def _ring_frame(seq: int, shape: tuple[int, int] = (512, 1024)) -> Frame:
    """A frame big enough for the ring whose pixels all equal ``seq % 256``."""
    return make_frame(np.full(shape, seq % 256, np.uint8), "s", seq)


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


def test_live_source_follows_the_ring_and_delivers_each_frame_once(follow_mode: str) -> None:
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
    assert sender.followed_only == 0, "with a tap the socket's copies keep coming"


def _follow_until_the_socket_is_quiet(
    sender: ZmqFrameSender, live: LatestFrameSource, seq: int = 0
) -> int:
    """Send and take frames until the sender has heard that every subscriber follows its ring
    (it then sends without a socket message); returns the next sequence number."""
    deadline = time.monotonic() + FAILURE_BOUND_S
    while sender.followed_only == 0:
        assert time.monotonic() < deadline, "the sender never left the socket out"
        sender.send(_ring_frame(seq))
        frame = live.recv(FAILURE_BOUND_S)
        assert frame is not None and frame.seq == seq
        seq += 1
    return seq


def test_without_a_tap_a_followed_ring_needs_no_socket_message(
    follow_mode: str, closing: _Closer
) -> None:
    sender, source = _pair()
    probes = source.received
    closing(sender)
    live = closing(LatestFrameSource(source))
    start = _follow_until_the_socket_is_quiet(sender, live)
    ring_only, stale = sender.followed_only, live.stale
    for seq in range(start, start + 20):
        sender.send(_ring_frame(seq))
        frame = live.recv(FAILURE_BOUND_S)
        assert frame is not None and frame.seq == seq and int(frame.pixels[-1, -1]) == seq % 256
    assert sender.followed_only == ring_only + 20, "none of them went on the socket"
    assert live.stale == stale
    last = start + 24
    for seq in range(start + 20, last + 1):  # the consumer takes nothing meanwhile
        sender.send(_ring_frame(seq))
    taken: list[int] = []
    while not taken or taken[-1] != last:
        frame = live.recv(FAILURE_BOUND_S)
        assert frame is not None
        taken.append(frame.seq)
    wait_until(lambda: len(taken) + live.stale - stale == 5)  # each taken or counted stale
    assert taken == sorted(set(taken)) and live.recv(0.05) is None
    assert source.received - probes <= start, "no socket copy of a frame sent once followed"
    assert source.stats()["gaps"] == 0, "frames left off the socket are no gaps"


def test_a_receiver_that_does_not_follow_brings_the_socket_messages_back(
    follow_mode: str, closing: _Closer
) -> None:
    sender, source = _pair()
    closing(sender)
    live = closing(LatestFrameSource(source))
    seq = _follow_until_the_socket_is_quiet(sender, live)
    plain = closing(ZmqFrameSource("zmq+" + sender.last_endpoint, pattern="sub", hwm=100))
    deadline = time.monotonic() + FAILURE_BOUND_S
    while plain.recv(0.05) is None:  # slow joiner: until its subscription has arrived
        assert time.monotonic() < deadline, "the plain receiver never got a frame"
        sender.send(_ring_frame(seq))
        seq += 1
    while plain.recv(0.05) is not None or live.recv(0.05) is not None:
        pass
    ring_only = sender.followed_only
    for n in range(seq, seq + 5):
        sender.send(_ring_frame(n))
        frame = live.recv(FAILURE_BOUND_S)
        assert frame is not None and frame.seq == n
        got = plain.recv(FAILURE_BOUND_S)
        assert got is not None and got.seq == n
    assert sender.followed_only == ring_only, "every frame went on the socket again"


def test_a_new_ring_is_followed_in_turn(follow_mode: str, closing: _Closer) -> None:
    sender, source = _pair()
    closing(sender)
    live = closing(LatestFrameSource(source))
    seq = _follow_until_the_socket_is_quiet(sender, live)
    first_ring = sender._ring.name if sender._ring is not None else ""
    shown = []
    deadline = time.monotonic() + FAILURE_BOUND_S
    before = sender.followed_only
    while sender.followed_only == before:  # larger frames: the sender makes a new ring
        assert time.monotonic() < deadline, "the new ring was never followed"
        sender.send(_ring_frame(seq, (1024, 1024)))
        frame = live.recv(FAILURE_BOUND_S)
        assert frame is not None and frame.pixels.shape == (1024, 1024)
        shown.append(frame.seq)
        seq += 1
    assert sender._ring is not None and sender._ring.name != first_ring
    assert shown == list(range(shown[0], seq)), "every frame once, in order, across the switch"


def _fields(frame: Frame) -> tuple[object, ...]:
    return (
        frame.stream_id,
        frame.seq,
        frame.t_capture_ns,
        frame.modality,
        frame.spacing_mm,
        frame.geometry,
        dict(frame.meta),
    )


def test_a_header_cache_decodes_exactly_what_a_full_parse_does() -> None:
    ring = ShmRingWriter(1 << 16)
    reader = ShmReader()
    cache: dict[bytes, object] = {}
    pixels = np.arange(256 * 128, dtype=np.uint16).reshape(256, 128) % 4096
    frames = [
        make_frame(pixels, "s", seq, t_capture_ns=10**18 + seq, meta={"n": seq % 2})
        for seq in range(4)
    ] + [make_frame(pixels, "s", 9, modality="us", spacing_mm=(0.2, 0.3))]
    metas = []
    for frame in frames:
        header = encode_header(frame)
        ref = {k: v for k, v in ring.put(pixels, header).items() if k != "nbytes"}
        cached = decode_shm_slot(header, ref, reader, cache=cache)
        plain = decode_shm_slot(header, ref, reader)
        assert _fields(cached) == _fields(plain) == _fields(frame)
        assert np.array_equal(cached.pixels, pixels)
        metas.append(cached.meta)
    assert len(cache) == 3, "one entry per header that differs in more than seq and time"
    assert metas[0] is not metas[2], "each frame gets its own meta mapping"
    tricky = b'{"v":1,"stream":"s","seq":1,"t_capture_ns":2,"dtype":"uint16","shape":[256,128],'
    for last in (b'"seq":5}', b'"seq":6}'):  # a duplicate key: the last one counts (JSON)
        ref = {k: v for k, v in ring.put(pixels, tricky + last).items() if k != "nbytes"}
        assert decode_shm_slot(tricky + last, ref, reader, cache=cache).seq == int(last[6:7])
    ring.close()
