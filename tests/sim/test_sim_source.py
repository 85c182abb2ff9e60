"""``sim:`` URIs: the simulator as a live source, paced by ``FramePacer`` (frames never come
early, a wait ends at its timeout or on close). No upper bound on time is asserted."""

from __future__ import annotations

import threading

from orstream.sim import SimSource
from orstream.stream import Frame, Modality, open_source
from tests._helpers import FAILURE_BOUND_S


def test_frames_come_in_order_one_period_apart_then_the_source_ends() -> None:
    source = open_source("sim:echo?seed=1&fps=20&frames=4&stream=a4c")
    assert isinstance(source, SimSource) and source.live
    frames = [source.recv(timeout_s=FAILURE_BOUND_S) for _ in range(4)]
    assert all(f is not None for f in frames)
    played = [f for f in frames if f is not None]
    assert [f.seq for f in played] == [0, 1, 2, 3]
    assert {(f.stream_id, f.modality) for f in played} == {("a4c", Modality.ECHO)}
    assert all("truth" in f.meta for f in played)
    # Frame 3 is due 3 periods (150 ms) after frame 0, later if the schedule shifted; one
    # period is left for the stamp of frame 0 being taken late (a lower bound only).
    assert played[3].t_capture_ns - played[0].t_capture_ns >= 2 * 50_000_000
    assert source.exhausted and source.recv(timeout_s=0) is None
    assert source.stats()["received"] == 4
    source.close()


def test_recv_waits_at_most_its_timeout_and_close_wakes_it() -> None:
    source = open_source("sim:us?seed=2&fps=0.01")  # the second frame is due in 100 s
    assert isinstance(source, SimSource)
    first = source.recv(timeout_s=FAILURE_BOUND_S)
    assert first is not None and first.seq == 0
    assert source.recv(timeout_s=0.01) is None and not source.exhausted
    got: list[Frame | None] = []
    waiter = threading.Thread(target=lambda: got.append(source.recv(timeout_s=None)))
    waiter.start()
    source.close()
    waiter.join(FAILURE_BOUND_S)
    assert not waiter.is_alive() and got == [None]
    assert source.recv(timeout_s=0) is None
