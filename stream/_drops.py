"""Counted, rate-limited drops: bad input on a stream is counted per kind, never fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

_log = logging.getLogger("orstream.stream")


class DropCounter:
    """Counts dropped messages per kind; logs at most one line per kind per ``log_interval_s``.

    The log line says how many of that kind were dropped since the last line and the last
    reason; it never includes payload bytes. ``clock``: seconds, monotonic (injected in
    tests). Thread-safe.
    """

    def __init__(
        self,
        where: str,
        log_interval_s: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = where
        self.log_interval_s = log_interval_s
        self._clock = clock
        self.counts: Counter[str] = Counter()
        self._unlogged: Counter[str] = Counter()
        self._last_log_s: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def drop(self, kind: str, reason: str = "") -> None:
        """Count one dropped message of ``kind``; maybe log one line."""
        now = self._clock()
        with self._lock:
            self.counts[kind] += 1
            self._unlogged[kind] += 1
            if now - self._last_log_s.get(kind, -1e9) < self.log_interval_s:
                return
            n = self._unlogged.pop(kind)
            self._last_log_s[kind] = now
        _log.warning("%s: dropped %d message(s) of kind %r (%s)", self.where, n, kind, reason)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)
