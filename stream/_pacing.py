"""The schedule of a live source: when frame k is due, the wait for it, and the shift when late.

Frame k of a clip of n frames is due ``offsets_ns[k % n] + (k // n) * cycle_ns`` after the
schedule starts (at the first wait), on a monotonic clock. A frame taken more than ``slack_ns``
after its time is counted as late and the schedule moves on by its lateness: the frames after
it keep their spacing from it instead of coming in a burst to catch up, so a consumer that
falls behind never makes latency grow.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

PERIOD_SLACK: Final = 0.1
"""Default lateness, as a fraction of a period, after which :meth:`FramePacer.every` counts a
frame late and shifts the schedule (consecutive frames stay at least 0.9 periods apart)."""


class FramePacer:
    """Due times of frames 0, 1, 2, ... and a wait for them that a timeout or :meth:`close`
    ends.

    ``offsets_ns``: each frame's due time (ns) after the first's, for one pass over a clip
    (first 0, never decreasing); ``cycle_ns``: the length of one pass (>= the last offset; the
    frame after the last is due one cycle after the first). :meth:`every` builds a fixed period.
    ``slack_ns``: lateness (ns) beyond which a frame counts in ``late`` and the schedule shifts.
    ``clock`` (monotonic, ns) and ``sleep`` (seconds; the wait between looks at the clock)
    are injected in tests; the default sleep returns early on :meth:`close`. ``wait`` from one
    thread; ``close`` from any.
    """

    def __init__(
        self,
        offsets_ns: Sequence[int],
        cycle_ns: int,
        *,
        slack_ns: int,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if len(offsets_ns) == 0 or offsets_ns[0] != 0:
            raise ValueError("offsets must start at 0 (the first frame's due time)")
        if any(b < a for a, b in itertools.pairwise(offsets_ns)):
            raise ValueError("offsets must never decrease")
        if cycle_ns < offsets_ns[-1] or cycle_ns <= 0:
            raise ValueError(f"cycle_ns must be > 0 and >= the last offset; got {cycle_ns}")
        if slack_ns < 0:
            raise ValueError(f"slack_ns must be >= 0; got {slack_ns}")
        self.offsets_ns = list(offsets_ns)
        self.cycle_ns = cycle_ns
        self.slack_ns = slack_ns
        self.late = 0
        self.start_ns: int | None = None  # clock time frame 0 is due (after shifts)
        self._clock = clock
        self._closed = threading.Event()
        self._sleep = sleep if sleep is not None else self._closed.wait

    @classmethod
    def every(
        cls,
        period_ns: int,
        *,
        slack_ns: int | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], object] | None = None,
    ) -> FramePacer:
        """Frames one ``period_ns`` apart; ``slack_ns`` by default :data:`PERIOD_SLACK` of a
        period."""
        if period_ns <= 0:
            raise ValueError(f"period_ns must be > 0; got {period_ns}")
        slack = round(PERIOD_SLACK * period_ns) if slack_ns is None else slack_ns
        return cls([0], period_ns, slack_ns=slack, clock=clock, sleep=sleep)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def due_ns(self, k: int) -> int:
        """Clock time (ns) frame ``k`` is due; relative to the start before the first wait."""
        count = len(self.offsets_ns)
        offset = (k // count) * self.cycle_ns + self.offsets_ns[k % count]
        return (self.start_ns or 0) + offset

    def wait(self, k: int, timeout_s: float | None = None) -> bool:
        """Wait until frame ``k`` is due: True when it is (a late one counted in ``late``, the
        schedule shifted by its lateness); False when it is not due within ``timeout_s``
        seconds (None: no limit) or once closed. The first call starts the schedule."""
        if self._closed.is_set():
            return False
        now = self._clock()
        if self.start_ns is None:
            self.start_ns = now
        due = self.due_ns(k)
        deadline = None if timeout_s is None else now + max(0, round(timeout_s * 1e9))
        while now < due:
            if deadline is not None and now >= deadline:
                return False
            until = due if deadline is None else min(due, deadline)
            self._sleep((until - now) / 1e9)
            if self._closed.is_set():
                return False
            now = self._clock()
        if now - due > self.slack_ns:  # behind: shift the schedule, never a burst
            self.late += 1
            self.start_ns += now - due
        return True

    def close(self) -> None:
        """Stop: a waiting :meth:`wait` returns False at once; idempotent."""
        self._closed.set()
