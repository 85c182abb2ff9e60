"""Per-path running statistics: frames, fps, capture-to-result latency p50/p99, drops."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ._frame import Frame


class PathStats:
    """Statistics of one path (source → stages → sink) while it runs.

    Latency is capture-to-result: the time a frame left the path minus its ``t_capture_ns``
    (the device's clock; meaningful when device and engine share a clock, as on one machine
    or with PTP/NTP). Percentiles come from the most recent ``window`` frames, so they follow
    the run rather than its start. Per-stage durations come from the frames' traces.
    Thread-safe.
    """

    def __init__(self, name: str, window: int = 100_000) -> None:
        self.name = name
        self.frames = 0
        self.drops: dict[str, int] = {}
        self._latency_ns = np.zeros(window, dtype=np.int64)
        self._stage_ns: dict[str, list[int]] = {}
        self._t_first_ns: int | None = None
        self._t_last_ns = 0
        self._lock = threading.Lock()

    def record(self, frame: Frame, t_done_ns: int | None = None) -> None:
        """Count ``frame`` as having left the path at ``t_done_ns`` (default: now)."""
        t_done = time.time_ns() if t_done_ns is None else t_done_ns
        with self._lock:
            self._latency_ns[self.frames % self._latency_ns.size] = t_done - frame.t_capture_ns
            self.frames += 1
            if self._t_first_ns is None:
                self._t_first_ns = t_done
            self._t_last_ns = t_done
            previous = frame.t_capture_ns
            for stage, t_ns in frame.trace:
                totals = self._stage_ns.setdefault(stage, [0, 0])
                totals[0] += t_ns - previous
                totals[1] += 1
                previous = t_ns

    def drop(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.drops[kind] = self.drops.get(kind, 0) + n

    def summary(self) -> dict[str, Any]:
        """``{"frames", "fps", "latency_ms": {"p50", "p99", "max"}, "stages_ms", "drops"}``."""
        with self._lock:
            n = min(self.frames, self._latency_ns.size)
            latency_ms = self._latency_ns[:n].astype(np.float64) / 1e6
            span_s = (self._t_last_ns - (self._t_first_ns or 0)) / 1e9
            fps = (self.frames - 1) / span_s if self.frames > 1 and span_s > 0 else 0.0
            stages = {k: round(v[0] / v[1] / 1e6, 4) for k, v in self._stage_ns.items() if v[1]}
            drops = dict(self.drops)
            frames = self.frames
        latency: dict[str, float | None] = {"p50": None, "p99": None, "max": None}
        if n:
            p50, p99 = np.percentile(latency_ms, [50, 99])
            latency = {
                "p50": round(float(p50), 3),
                "p99": round(float(p99), 3),
                "max": round(float(latency_ms.max()), 3),
            }
        return {
            "frames": frames,
            "fps": round(fps, 2),
            "latency_ms": latency,
            "stages_ms": stages,
            "drops": drops,
        }
