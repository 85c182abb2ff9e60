"""``FramePacer``: due times, the bounded wait, lateness and the shift of the schedule, on an
injected clock (no wall-clock time is read or asserted)."""

from __future__ import annotations

import threading

import pytest

from orstream.stream import FramePacer
from tests._helpers import FAILURE_BOUND_S

MS = 1_000_000


class FakeClock:
    """A monotonic clock (ns) that moves only when something sleeps on it."""

    def __init__(self, start_ns: int = 7 * MS) -> None:
        self.now_ns = start_ns
        self.sleeps_s: list[float] = []

    def __call__(self) -> int:
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.sleeps_s.append(seconds)
        self.now_ns += round(seconds * 1e9)

    def pacer(self, offsets_ns: list[int], cycle_ns: int, slack_ns: int) -> FramePacer:
        return FramePacer(offsets_ns, cycle_ns, slack_ns=slack_ns, clock=self, sleep=self.sleep)


def test_each_frame_leaves_at_its_offset_never_before() -> None:
    clock = FakeClock()
    pacer = clock.pacer([0, 500 * MS, 2000 * MS], 3000 * MS, slack_ns=5 * MS)
    start = clock.now_ns
    assert pacer.wait(0) and clock.now_ns == start and clock.sleeps_s == []
    for k, offset_ms in enumerate([500, 2000, 3000, 3500, 5000, 6000], start=1):
        assert pacer.wait(k)
        assert clock.now_ns == start + offset_ms * MS  # one pass, then the cycle again
    assert pacer.late == 0


def test_a_wait_ends_at_its_timeout_and_the_frame_stays_due() -> None:
    clock = FakeClock()
    pacer = clock.pacer([0, 500 * MS], 1000 * MS, slack_ns=5 * MS)
    start = clock.now_ns
    assert pacer.wait(0)
    assert not pacer.wait(1, timeout_s=0.1)
    assert clock.now_ns == start + 100 * MS  # waited exactly the timeout
    assert not pacer.wait(1, timeout_s=0)
    assert clock.now_ns == start + 100 * MS  # a zero timeout does not wait
    assert pacer.wait(1, timeout_s=1.0)
    assert clock.now_ns == start + 500 * MS and pacer.late == 0


def test_a_late_frame_is_counted_and_shifts_the_schedule_instead_of_a_burst() -> None:
    clock = FakeClock()
    pacer = FramePacer.every(10 * MS, clock=clock, sleep=clock.sleep)
    assert pacer.slack_ns == 1 * MS  # a tenth of a period by default
    assert pacer.wait(0)
    clock.now_ns += 35 * MS  # the consumer stalls for 3.5 periods
    taken = clock.now_ns
    assert pacer.wait(1) and clock.now_ns == taken and pacer.late == 1
    assert pacer.due_ns(2) == taken + 10 * MS  # the next keeps its spacing from the late one
    assert pacer.wait(2) and clock.now_ns == taken + 10 * MS and pacer.late == 1


def test_lateness_within_the_slack_is_neither_counted_nor_shifted() -> None:
    clock = FakeClock()
    pacer = FramePacer.every(10 * MS, slack_ns=2 * MS, clock=clock, sleep=clock.sleep)
    start = clock.now_ns
    assert pacer.wait(0)
    clock.now_ns = start + 12 * MS  # frame 1 taken 2 ms late: on the limit
    assert pacer.wait(1) and pacer.late == 0
    assert pacer.due_ns(2) == start + 20 * MS
    clock.now_ns = start + 22 * MS + 1  # 1 ns past the limit
    assert pacer.wait(2) and pacer.late == 1
    assert pacer.due_ns(3) == start + 32 * MS + 1


def test_close_ends_a_wait_and_every_later_one() -> None:
    clock = FakeClock()

    def sleep_then_close(seconds: float) -> None:  # the close comes from another thread
        clock.sleep(seconds / 2)
        pacer.close()

    pacer = FramePacer([0], 1000 * MS, slack_ns=0, clock=clock, sleep=sleep_then_close)
    assert pacer.wait(0)
    assert not pacer.wait(1) and pacer.closed
    assert not pacer.wait(1, timeout_s=5.0) and not pacer.wait(0)
    pacer.close()  # idempotent
    assert pacer.closed


def test_the_default_sleep_wakes_on_close() -> None:
    pacer = FramePacer.every(3600 * 10**9)  # the second frame is due in an hour
    assert pacer.wait(0, timeout_s=0)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(pacer.wait(1)))
    waiter.start()
    pacer.close()
    waiter.join(FAILURE_BOUND_S)
    assert not waiter.is_alive() and got == [False]


@pytest.mark.parametrize(
    ("offsets", "cycle", "slack", "match"),
    [
        ([], 10, 0, "start at 0"),
        ([5, 10], 20, 0, "start at 0"),
        ([0, 10, 5], 20, 0, "never decrease"),
        ([0, 10], 9, 0, "cycle_ns"),
        ([0], 0, 0, "cycle_ns"),
        ([0], 10, -1, "slack_ns"),
    ],
)
def test_bad_schedules_are_refused(offsets: list[int], cycle: int, slack: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FramePacer(offsets, cycle, slack_ns=slack)


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period_ns must be > 0"):
        FramePacer.every(0)
