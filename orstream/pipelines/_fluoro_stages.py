"""The live fluoroscopy pipeline: catheter mask and tip, tracked per stream (fluoro-catheter).

``FluoroTrackStage`` keeps one :class:`~orstream.kernels.RoiTipTracker` per stream: while the
track is confident one model run on a native-resolution crop around the predicted tip, else a
search of the whole frame. It puts ``frame.results["tip"]`` (a :class:`TipResult`: px, mm with
the frame's spacing, track confidence) and ``frame.results["catheter_mask"]`` (uint8 (H, W),
1 = catheter, from the same model pass: near the tip after an ROI pass).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Final

import numpy as np

from ..kernels import Backend, RoiTipTracker, load_backend
from ..stream import Frame
from ._results import TipResult, tip_result

_MAX_STREAMS: Final = 64
"""Streams whose trackers are kept; the least recently seen one goes beyond."""


class FluoroTrackStage:
    """Catheter tip and mask of each frame (grey (H, W), 8- or 16-bit, at least the model's
    input size). Safe for frames of different streams in different threads, never two frames
    of one stream at once."""

    name = "fluoro-catheter"

    def __init__(self, backend: str = "auto", model: str = "fluoro-catheter") -> None:
        self.backend: Backend = load_backend(model, backend)
        if self.backend.model.tip_channel is None:
            raise ValueError(f"model {model} has no tip heatmap; choose a tracking model")
        self._catheter = self.backend.model.class_names.index("catheter")
        self._trackers: OrderedDict[str, RoiTipTracker] = OrderedDict()
        self._lock = threading.Lock()

    def open(self) -> None:
        """One model run on a blank frame, so one-time costs never land on a live frame."""
        side = self.backend.model.input_size[0]
        RoiTipTracker(self.backend).step(np.zeros((side, side), np.uint16), 0.0)

    def __call__(self, frame: Frame) -> Frame:
        tracker = self._tracker(frame.stream_id)
        estimate = tracker.step(frame.pixels, frame.t_capture_ns / 1e9)
        frame.results["tip"] = tip_result(estimate, frame.spacing_mm)
        labels = tracker.last_mask(frame.pixels.shape[:2])
        frame.results["catheter_mask"] = (labels == self._catheter).astype(np.uint8)
        return frame

    def _tracker(self, stream: str) -> RoiTipTracker:
        with self._lock:
            tracker = self._trackers.get(stream)
            if tracker is None:
                if len(self._trackers) >= _MAX_STREAMS:
                    self._trackers.popitem(last=False)
                tracker = self._trackers[stream] = RoiTipTracker(self.backend)
            else:
                self._trackers.move_to_end(stream)
            return tracker


class TipStats:
    """What a run of tips adds up to: frames, frames with a tip found, mean confidence, and,
    when frames carry simulator truth (``meta["truth"]["tip_px"]``), the tip error in mm."""

    name = "tip-stats"

    def __init__(self, result_key: str = "tip", truth_key: str = "tip_px") -> None:
        self.result_key, self.truth_key = result_key, truth_key
        self._lock = threading.Lock()
        self._frames = self._found = 0
        self._confidence: list[float] = []
        self._errors_mm: list[float] = []

    def __call__(self, frame: Frame) -> Frame:
        result = frame.results.get(self.result_key)
        tip = getattr(result, "needle_tip", result)
        if not isinstance(tip, TipResult):
            return frame
        truth = frame.meta.get("truth")
        true_px = truth.get(self.truth_key) if isinstance(truth, dict) else None
        error = None
        if tip.found and isinstance(true_px, list) and frame.spacing_mm is not None:
            dy = (tip.y_px - float(true_px[1])) * frame.spacing_mm[0]
            dx = (tip.x_px - float(true_px[0])) * frame.spacing_mm[1]
            error = float(np.hypot(dx, dy))
        with self._lock:
            self._frames += 1
            self._found += tip.found
            self._confidence.append(tip.confidence)
            if error is not None:
                self._errors_mm.append(error)
        return frame

    def summary(self) -> dict[str, Any]:
        with self._lock:
            errors = np.array(self._errors_mm)
            doc: dict[str, Any] = {
                "frames": self._frames,
                "tip_found": self._found,
                "mean_confidence": round(float(np.mean(self._confidence)), 3)
                if self._confidence
                else None,
            }
        if errors.size:
            doc["tip_error_mm"] = {
                "frames": int(errors.size),
                "median": round(float(np.median(errors)), 3),
                "p95": round(float(np.percentile(errors, 95)), 3),
            }
        return doc
