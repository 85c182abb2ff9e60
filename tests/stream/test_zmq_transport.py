"""ZeroMQ transports: lossless PUSH/PULL, live PUB/SUB with newest-frame-wins, gap counting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zmq

from orstream.stream import (
    Frame,
    LatestFrameSource,
    ZmqFrameSender,
    ZmqFrameSource,
    encode,
    make_frame,
)
from tests._helpers import (
    FAILURE_BOUND_S,
    TCP_BIND,
    await_subscription,
    numbered_frame,
    pixels_for,
    raw_socket,
    recv_n,
    uri,
    wait_until,
)


@pytest.fixture(params=["tcp", "ipc"])
def bind_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A bind URI on a fresh address: loopback tcp port 0, or an ipc socket in tmp_path."""
    if request.param == "tcp":
        yield TCP_BIND
    else:
        path = tmp_path / "feed.sock"
        assert len(str(path)) < 100  # the ipc path limit is 107 bytes
        yield f"zmq+ipc://{path}?bind=1"


def _assert_same(frame: Frame, seq: int, stream_id: str = "s") -> None:
    assert (frame.stream_id, frame.seq) == (stream_id, seq)
    np.testing.assert_array_equal(frame.pixels, pixels_for(seq, frame.pixels.shape))


# --- lossless: PUSH/PULL -----------------------------------------------------------------------


def test_push_pull_is_lossless_and_in_order(bind_uri: str) -> None:
    source = ZmqFrameSource(bind_uri, pattern="pull")
    sender = ZmqFrameSender(uri(source.last_endpoint), pattern="push")
    try:
        for seq in range(500):  # fewer than the high-water mark: no thread needed
            sender.send(numbered_frame(seq))
        frames = recv_n(source, 500)
        for seq, frame in enumerate(frames):
            _assert_same(frame, seq)
            assert frame.trace and frame.trace[0][0] == "recv"
        assert sender.sent == 500
        stats = source.stats()
        assert stats["received"] == 500
        assert stats["gaps"] == 0
        assert stats["malformed"] == 0
        assert stats["malformed_by_kind"] == {}
        assert source.recv(timeout_s=0.05) is None
    finally:
        sender.close()
        source.close()


def test_push_may_bind_and_pull_connect(bind_uri: str) -> None:
    sender = ZmqFrameSender(bind_uri, pattern="push")
    source = ZmqFrameSource(uri(sender.last_endpoint), pattern="pull")
    try:
        for seq in range(20):
            sender.send(numbered_frame(seq, shape=(16, 16, 3), dtype=np.float32))
        for seq, frame in enumerate(recv_n(source, 20)):
            assert frame.pixels.dtype == np.float32
            _assert_same(frame, seq)
    finally:
        source.close()
        sender.close()


def test_large_frames_arrive_bit_exact() -> None:
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    sender = ZmqFrameSender(uri(source.last_endpoint), pattern="push")
    try:
        for seq in range(3):
            sender.send(numbered_frame(seq, shape=(512, 640)))
        for seq, frame in enumerate(recv_n(source, 3)):
            _assert_same(frame, seq)
    finally:
        sender.close()
        source.close()


def test_pattern_in_the_uri_overrides_the_default() -> None:
    source = ZmqFrameSource(TCP_BIND + "&pattern=pull")  # default would be sub
    sender = ZmqFrameSender(uri(source.last_endpoint, pattern="push"))  # default would be pub
    try:
        assert (source.pattern, sender.pattern) == ("pull", "push")
        sender.send(numbered_frame(0))
        _assert_same(recv_n(source, 1)[0], 0)
    finally:
        sender.close()
        source.close()


def test_wrong_patterns_and_unusable_addresses_raise_value_error() -> None:
    with pytest.raises(ValueError, match="sender needs pattern pub or push"):
        ZmqFrameSender(TCP_BIND, pattern="pull")
    with pytest.raises(ValueError, match="source needs pattern sub or pull"):
        ZmqFrameSource(TCP_BIND + "&pattern=push")
    taken = ZmqFrameSource(TCP_BIND, pattern="pull")
    try:
        with pytest.raises(ValueError, match="cannot open"):
            ZmqFrameSource(uri(taken.last_endpoint, bind="1"), pattern="pull")
    finally:
        taken.close()
    with pytest.raises(ValueError, match="cannot open"):
        ZmqFrameSender("zmq+tcp://192.0.2.1:5555?bind=1", pattern="push")  # not our address


def test_last_endpoint_has_the_real_port_and_close_is_idempotent() -> None:
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    host, port = source.last_endpoint.removeprefix("tcp://").rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert source.malformed.where == f"receive {source.last_endpoint}"  # drop logs name the port
    source.close()
    source.close()


def test_recv_times_out_with_none() -> None:
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    try:
        assert source.recv(timeout_s=0.0) is None
        assert source.recv(timeout_s=0.02) is None
    finally:
        source.close()


# --- sequence gaps -----------------------------------------------------------------------------


def test_sequence_gaps_are_counted_per_stream() -> None:
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    sender = ZmqFrameSender(uri(source.last_endpoint), pattern="push")
    sent = [("a", 0), ("a", 1), ("b", 7), ("a", 2), ("a", 5), ("b", 8), ("a", 6), ("b", 12)]
    sent += [("a", 10), ("a", 3), ("a", 4)]  # a restart at 3: no gap, tracking restarts
    try:
        for stream_id, seq in sent:
            sender.send(numbered_frame(seq, stream_id, shape=(4, 4)))
        got = [(f.stream_id, f.seq) for f in recv_n(source, len(sent))]
        assert got == sent
        assert source.gaps == (5 - 2 - 1) + (12 - 8 - 1) + (10 - 6 - 1)
        assert source.stats()["received"] == len(sent)
    finally:
        sender.close()
        source.close()


# --- live: PUB/SUB and LatestFrameSource -------------------------------------------------------


class _LiveRig:
    """PUB bound, SUB connected, subscription confirmed; frames of stream "probe" are probes.

    ``sender_hwm`` defaults to a roomy 1000: with the live default of 4 the PUB also drops
    frames sent within about 1 ms of each other even while the receiver keeps up (libzmq
    learns of the peer's reads only when it processes commands, at most once per ms), which
    would make the one-at-a-time tests below depend on timing.
    """

    def __init__(self, bind: str = TCP_BIND, sender_hwm: int | None = 1000) -> None:
        self.sender = ZmqFrameSender(bind, pattern="pub", hwm=sender_hwm)
        self.source = ZmqFrameSource(uri(self.sender.last_endpoint), pattern="sub")
        await_subscription(
            lambda k: self.sender.send(numbered_frame(k, "probe", (2, 2))), self.source
        )
        self.probe_stats = self.source.stats()  # what the probes added to the counters
        self.seen: list[tuple[str, int]] = []
        self.live = LatestFrameSource(self.source, tap=lambda f: self.seen.append(_key(f)))

    def send_and_wait(self, stream_id: str, seq: int) -> None:
        """Send one frame and wait (failure bound only) until the receive thread has it."""
        self.sender.send(numbered_frame(seq, stream_id))
        wait_until(lambda: (stream_id, seq) in self.seen)

    def close(self) -> None:
        self.live.close()
        self.sender.close()


def _key(frame: Frame) -> tuple[str, int]:
    return (frame.stream_id, frame.seq)


@pytest.fixture
def rig() -> Iterator[_LiveRig]:
    rig = _LiveRig()
    yield rig
    rig.close()


@pytest.fixture
def default_rig() -> Iterator[_LiveRig]:
    """The live defaults on both ends (high-water mark 4)."""
    rig = _LiveRig(sender_hwm=None)
    yield rig
    rig.close()


def test_pub_sub_delivers_in_order(bind_uri: str) -> None:
    rig = _LiveRig(bind_uri)
    try:
        for seq in range(5):
            rig.send_and_wait("s", seq)
            frame = rig.live.recv(timeout_s=5.0)
            assert frame is not None
            _assert_same(frame, seq)
        assert rig.live.stats()["stale"] == 0
    finally:
        rig.close()


def test_slow_consumer_gets_the_newest_frame_and_stale_ones_are_counted(rig: _LiveRig) -> None:
    n = 30
    for seq in range(n):  # the consumer takes nothing meanwhile
        rig.send_and_wait("s", seq)
    frame = rig.live.recv(timeout_s=5.0)
    assert frame is not None
    _assert_same(frame, n - 1)
    assert rig.live.stale == n - 1
    assert rig.live.recv(timeout_s=0.02) is None
    assert rig.live.stats()["gaps"] == 0  # every frame reached us; they were just too old
    assert rig.seen[-n:] == [("s", seq) for seq in range(n)]  # the tap saw every one


def test_newest_wins_per_stream_and_the_longest_waiting_stream_goes_first(rig: _LiveRig) -> None:
    for key in [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]:
        rig.send_and_wait(*key)
    first, second = rig.live.recv(timeout_s=5.0), rig.live.recv(timeout_s=5.0)
    assert first is not None and second is not None
    assert [_key(first), _key(second)] == [("b", 1), ("a", 2)]
    assert rig.live.stale == 3
    assert rig.live.recv(timeout_s=0.02) is None


def test_consumer_that_keeps_up_drops_nothing(rig: _LiveRig) -> None:
    for seq in range(20):
        rig.send_and_wait("s", seq)
        frame = rig.live.recv(timeout_s=5.0)
        assert frame is not None
        assert _key(frame) == ("s", seq)
    assert rig.live.stale == 0


def test_live_burst_accounts_for_every_frame(default_rig: _LiveRig) -> None:
    """A burst overruns the small live queues: every frame sent is consumed, stale or a gap."""
    rig = default_rig
    burst = 300
    for seq in range(burst):
        rig.sender.send(numbered_frame(seq, "s", shape=(64, 64)))
    marker = burst  # markers follow the burst until one arrives: then the burst is through
    deadline = time.monotonic() + FAILURE_BOUND_S
    while not any(stream_id == "s" and seq >= burst for stream_id, seq in list(rig.seen)):
        assert time.monotonic() < deadline, "no marker frame arrived"
        rig.sender.send(numbered_frame(marker, "s", shape=(64, 64)))
        marker += 1
        time.sleep(0.005)
    rig.live.close()  # freeze the counters
    seqs = [seq for stream_id, seq in rig.seen if stream_id == "s"]
    assert seqs == sorted(set(seqs))  # in order, no duplicates
    consumed = []
    while (frame := rig.live.recv(timeout_s=0.0)) is not None:
        consumed.append(frame)
    stats = rig.live.stats()
    assert stats["received"] - rig.probe_stats["received"] == len(seqs)
    assert stats["gaps"] - rig.probe_stats["gaps"] == (seqs[-1] - seqs[0] + 1) - len(seqs)
    assert len(consumed) + stats["stale"] == len(seqs)
    assert [_key(f) for f in consumed] == [("s", seqs[-1])]


def test_close_stops_the_receive_thread(rig: _LiveRig) -> None:
    rig.close()
    assert not rig.live._thread.is_alive()
    rig.live.close()  # idempotent


# --- foreign senders -------------------------------------------------------------------------


def test_a_plain_pyzmq_push_sender_interoperates() -> None:
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    try:
        with raw_socket(zmq.PUSH, source.last_endpoint) as push:
            frame = make_frame(np.arange(6, dtype=np.int16).reshape(2, 3), "raw", 9)
            push.send_multipart(encode(frame))
            got = recv_n(source, 1)[0]
        assert (got.stream_id, got.seq) == ("raw", 9)
        np.testing.assert_array_equal(got.pixels, frame.pixels)
    finally:
        source.close()


def test_live_path_keeps_frames_whose_capture_times_do_not_change() -> None:
    """The spec allows a constant t_capture_ns (0 = unknown): such frames are still frames."""
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="pull")
    sender = ZmqFrameSender("zmq+" + source.last_endpoint, pattern="push")
    live = LatestFrameSource(source)
    got = []
    for seq in range(5):
        sender.send(make_frame(np.zeros((8, 8), np.uint8), "s", seq, t_capture_ns=0))
        frame = live.recv(5.0)
        assert frame is not None
        got.append(frame.seq)
        time.sleep(0.01)
    live.close()
    sender.close()
    assert got == [0, 1, 2, 3, 4]
