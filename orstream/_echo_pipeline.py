"""The live echo pipeline: LV segmentation (echo-lv) and live measurements on every frame.

``EchoSegmentStage`` puts the LV cavity mask in ``frame.results["lv_mask"]``;
``EchoMeasureStage`` measures the frame (``frame.results["lv"]``: LV area in mm2 and volume in
ml) and, once a second, finds the beats in the last ``window_s`` seconds in a worker thread,
so the frame path never waits for it. A beat whose ED lies at a window's edge is left for a
later window; a beat seen again (its ED within ``_SAME_BEAT_S`` of a kept one) replaces it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from .kernels import FrameMeasurement, load_backend, measure_frame, segment, summarize_clip
from .stream import Frame

_SAME_BEAT_S = 0.2
"""Two EDs of one stream closer than this (s) are the same beat seen in two windows."""


class EchoSegmentStage:
    """LV cavity mask (uint8 (H, W), 1 = LV) of each frame, at the frame's size."""

    name = "echo-lv"

    def __init__(self, backend: str = "auto") -> None:
        self.backend = load_backend("echo-lv", backend)
        self._lv = self.backend.class_names.index("lv_cavity")

    def __call__(self, frame: Frame) -> Frame:
        mask = segment(self.backend, frame.pixels)
        frame.results["lv_mask"] = (mask == self._lv).astype(np.uint8)
        return frame


class EchoMeasureStage:
    """Per-frame LV measurements and, from a sliding window, per-beat EF and heart rate."""

    name = "measure"

    def __init__(self, window_s: float = 8.0, every_s: float = 1.0) -> None:
        self.window_s = window_s
        self.every_s = every_s
        self.no_spacing = 0
        self._window: deque[tuple[int, FrameMeasurement]] = deque()
        self._beats: list[dict[str, Any]] = []
        self._hr_bpm: float | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._t_last = 0.0

    def __call__(self, frame: Frame) -> Frame:
        if frame.spacing_mm is None:
            self.no_spacing += 1
            frame.results["lv"] = None
            return frame
        t_s = frame.t_capture_ns / 1e9
        lv = measure_frame(frame.results["lv_mask"], frame.spacing_mm, index=frame.seq, t_s=t_s)
        frame.results["lv"] = lv
        self._window.append((frame.seq, lv))  # only the frame path touches the window
        while self._window and t_s - self._window[0][1].t_s > self.window_s:
            self._window.popleft()
        now = time.monotonic()
        busy = self._worker is not None and self._worker.is_alive()
        if now - self._t_last >= self.every_s and not busy and len(self._window) > 10:
            self._t_last = now
            self._worker = threading.Thread(
                target=self._find_beats, args=(frame.stream_id, list(self._window)), daemon=True
            )
            self._worker.start()
        return frame

    def _find_beats(self, stream: str, window: list[tuple[int, FrameMeasurement]]) -> None:
        """Beats of one window (the frames' own capture times give the frame rate)."""
        times = np.array([m.t_s for _, m in window])
        fps = (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else 0.0
        if fps <= 0:
            return
        try:
            clip = summarize_clip([m for _, m in window], fps)
        except ValueError:
            return
        with self._lock:
            for beat in clip.beats:
                if not math.isfinite(beat.ef) or "ed_at_edge" in beat.flags:
                    continue
                ed_t = window[beat.ed_index][1].t_s
                self._beats = [
                    b
                    for b in self._beats
                    if b["stream"] != stream or abs(b["ed_t_s"] - ed_t) > _SAME_BEAT_S
                ]
                self._beats.append(
                    {
                        "stream": stream,
                        "ed_frame": window[beat.ed_index][0],
                        "es_frame": window[beat.es_index][0],
                        "ed_t_s": ed_t,
                        "edv_ml": round(beat.edv_ml, 2),
                        "esv_ml": round(beat.esv_ml, 2),
                        "ef": round(beat.ef, 4),
                        "quality": list(beat.flags) or ["ok"],
                    }
                )
            if clip.hr_bpm is not None:
                self._hr_bpm = clip.hr_bpm

    def summary(self, final: bool = False) -> dict[str, Any]:
        """``{"beats": [...], "ef": mean over good beats, "heart_rate_bpm", ...}``; ``final``
        waits for a window still being measured (never from the frame path)."""
        if final and self._worker is not None:
            self._worker.join(timeout=5.0)
        with self._lock:
            beats = sorted(self._beats, key=lambda b: (b["stream"], b["ed_frame"]))
            hr = self._hr_bpm
        good = [b["ef"] for b in beats if b["quality"] == ["ok"]] or [b["ef"] for b in beats]
        return {
            "beats": beats,
            "ef": round(float(np.mean(good)), 4) if good else None,
            "heart_rate_bpm": None if hr is None else round(hr, 1),
            "frames_without_spacing": self.no_spacing,
            "method": "single-plane method of discs (20 discs) on echo-lv masks, 8 s windows",
        }
