"""``LatestFrameSource`` over any live source (an in-memory fake here; the ZeroMQ cases are in
test_zmq_transport.py and test_shm.py): newest frame per stream, stale frames counted, the tap
sees everything, a finite source ends it."""

from __future__ import annotations

import queue
from typing import Any

import numpy as np

from orstream.stream import Frame, LatestFrameSource, make_frame
from tests._helpers import FAILURE_BOUND_S, wait_until


class QueueSource:
    """A live fake: a frame the test puts arrives at once; ``end()`` makes it exhausted."""

    live = True

    def __init__(self) -> None:
        self._queue: queue.Queue[Frame | None] = queue.Queue()
        self.exhausted = False
        self.closed = False
        self.received = 0

    def put(self, stream_id: str, seq: int) -> None:
        self._queue.put(make_frame(np.full((2, 2), seq, np.uint8), stream_id, seq))

    def end(self) -> None:
        self._queue.put(None)

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        if self.exhausted:
            return None
        try:
            frame = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if frame is None:
            self.exhausted = True
            return None
        self.received += 1
        return frame

    def stats(self) -> dict[str, Any]:
        return {"received": self.received}

    def close(self) -> None:
        self.closed = True


def _key(frame: Frame | None) -> tuple[str, int] | None:
    return None if frame is None else (frame.stream_id, frame.seq)


def test_newest_frame_per_stream_wins_and_stale_ones_are_counted() -> None:
    fake, seen = QueueSource(), []
    live = LatestFrameSource(fake, tap=lambda f: seen.append(_key(f)))
    sent = [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]
    for key in sent:
        fake.put(*key)
    wait_until(lambda: len(seen) == len(sent))
    assert seen == sent  # the tap sees every frame, in arrival order
    got = [_key(live.recv(FAILURE_BOUND_S)), _key(live.recv(FAILURE_BOUND_S))]
    assert got == [("b", 1), ("a", 2)]  # b has waited longest
    assert live.stale == 3 and live.stats() == {
        "received": 5,
        "stale": 3,
        "followed": 0,
        "tap_errors": 0,
    }
    assert live.recv(timeout_s=0.01) is None
    live.close()
    assert fake.closed


def test_a_consumer_that_keeps_up_drops_nothing() -> None:
    fake = QueueSource()
    live = LatestFrameSource(fake)
    for seq in range(10):
        fake.put("s", seq)
        assert _key(live.recv(FAILURE_BOUND_S)) == ("s", seq)
    assert live.stale == 0
    live.close()


def test_a_finite_source_ends_once_its_newest_frame_is_taken() -> None:
    fake = QueueSource()
    live = LatestFrameSource(fake)
    for seq in range(3):
        fake.put("s", seq)
    fake.end()
    wait_until(lambda: fake.exhausted)
    assert not live.exhausted  # the newest frame still waits
    assert _key(live.recv(FAILURE_BOUND_S)) == ("s", 2)
    wait_until(lambda: live.exhausted)
    assert live.recv(timeout_s=FAILURE_BOUND_S) is None  # at once, not after the timeout
    assert live.stale == 2
    live.close()


def test_nothing_is_drained_before_start_and_a_failing_tap_loses_no_live_frame() -> None:
    fake = QueueSource()

    def tap(frame: Frame) -> None:
        raise OSError("disk full")

    live = LatestFrameSource(fake, tap=tap, start=False)
    fake.put("s", 0)
    assert not live._thread.is_alive() and fake.received == 0
    live.start()
    live.start()  # idempotent
    assert _key(live.recv(FAILURE_BOUND_S)) == ("s", 0)
    assert live.stats()["tap_errors"] == 1
    live.close()
    live.close()  # idempotent


def test_close_before_start_closes_the_source() -> None:
    fake = QueueSource()
    live = LatestFrameSource(fake, start=False)
    live.close()
    assert fake.closed and live.exhausted
    assert live.recv(timeout_s=0) is None
