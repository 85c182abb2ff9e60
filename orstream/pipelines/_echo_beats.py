"""Echo's live run-level numbers on every frame: ``frame.results["beats"]``.

:class:`LiveBeatsResult` is what the beat searches of a stream have found so far (mean EF,
heart rate, the last beats with their ED/ES frames), so a per-frame consumer (the OR display,
a JSON Lines file) has EF and heart rate without waiting for the run's summary.
:class:`BeatsBoard` keeps one per stream, refreshed after each search, never on the frame path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Final

from ..kernels import LiveBeat, LiveBeatAccumulator

LAST_BEATS: Final = 6
"""Beats a per-frame result carries (the newest)."""


@dataclass(frozen=True, slots=True)
class LiveBeatsResult:
    """A stream's beats so far: mean EF (fraction 0..1, None before a beat), heart rate (bpm,
    None before one is found), the last :data:`LAST_BEATS` beats (oldest first) and how many
    beats there are in all."""

    ef: float | None
    heart_rate_bpm: float | None
    beats: tuple[LiveBeat, ...]
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ef": self.ef,
            "heart_rate_bpm": self.heart_rate_bpm,
            "count": self.count,
            "beats": [b.to_json() for b in self.beats],
        }


EMPTY: Final = LiveBeatsResult(None, None, (), 0)


class BeatsBoard:
    """The :class:`LiveBeatsResult` of each stream of ``beats`` (thread-safe)."""

    def __init__(self, beats: LiveBeatAccumulator) -> None:
        self._beats = beats
        self._results: dict[str, LiveBeatsResult] = {}
        self._lock = threading.Lock()

    def get(self, stream: str) -> LiveBeatsResult:
        with self._lock:
            return self._results.get(stream, EMPTY)

    def refresh(self, stream: str) -> None:
        """Recompute ``stream``'s result from the accumulator (after a beat search)."""
        summary = self._beats.summary()
        mine = summary.streams.get(stream, {})
        beats = tuple(b for b in summary.beats if b.stream == stream)
        result = LiveBeatsResult(
            ef=mine.get("ef"),
            heart_rate_bpm=mine.get("heart_rate_bpm"),
            beats=beats[-LAST_BEATS:],
            count=len(beats),
        )
        with self._lock:
            self._results[stream] = result
