"""ROI tip tracking: a tip-heatmap model on the whole frame when lost, on a crop when confident.

:class:`RoiTipTracker` drives a model with a tip heatmap (``ModelSpec.tip_channel``) and a
:class:`~orstream.kernels.TipTracker`. Per frame: predict the tip; while the track is confident
(:meth:`TipTracker.roi`), run the model once on a native-resolution crop of the model's input
size around the prediction (a 256 px crop is 1/16 of a 1024 px frame); otherwise (or when the
crop shows no tip) run a *search* pass on the whole frame letterboxed and shrunk to the input
size, then a *refine* pass on a native crop around what it found. Each pass keeps the heatmap's
few strongest peaks (:func:`tip_candidates`); a peak inside the track's gate wins over a stronger
one outside it. The estimate is the Kalman state after the update, in frame pixels (x = column,
y = row, pixel centres at integers).

The reported confidence is the track confidence discounted by the filter's own position
uncertainty: ``c / (1 + (sigma / sigma_ref_px)**2)`` with ``sigma`` the 1-sigma position error
along the worst direction (:attr:`TipTracker.position_sigma_px`). A track that coasts, or that
follows weak or off-gate detections, keeps a fair track confidence for a while but its sigma
grows; frames with a tip error above 3 mm rank lower with the discount (AUROC, see
docs/models/fluoro-catheter.md, "Confidence").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import cv2
import numpy as np
import numpy.typing as npt

from ._backends import Backend
from ._tip import tip_candidates, tip_from_heatmap
from ._track import TipTracker, TrackerConfig

Mode = Literal["roi", "search", "none"]
Candidate = tuple[float, float, float]
"""A tip candidate: x, y in frame px and the heatmap's probability there."""
CANDIDATES: Final = 10
"""Heatmap peaks considered per model run (those below both thresholds are never chosen)."""
SIGMA_REF_PX: Final = 8.0
"""Position sigma (px) at which the reported confidence is half the track confidence (chosen
on the validation range, docs/models/fluoro-catheter.md)."""


@dataclass(frozen=True)
class TipEstimate:
    """One frame's answer: ``found`` (the track holds a position), ``x_px``/``y_px`` the
    filtered tip (NaN when not found), ``confidence`` 0..1 the track confidence discounted by
    the position uncertainty (the module doc; 0 when not found), ``peak`` the detector's peak
    probability this frame (0 when nothing ran or nothing was seen), ``mode`` which pass gave
    the detection, ``model_runs`` how many model calls the frame cost, ``track_confidence``
    the Kalman tracker's own confidence 0..1 (what decides the ROI pass), ``sigma_px`` the
    filter's 1-sigma position uncertainty (px; inf when not found)."""

    found: bool
    x_px: float
    y_px: float
    confidence: float
    peak: float
    mode: Mode
    model_runs: int
    track_confidence: float
    sigma_px: float


class RoiTipTracker:
    """Tip tracking with ``backend`` (a model with a tip heatmap; input square, H x H px).

    ``min_peak``: a whole-frame search finding less than this probability finds "no tip";
    ``roi_min_peak``: the same inside the crop around a confident track, lower because the
    track vouches for the place (a tip fading under contrast stays tracked); ``config``: the
    Kalman tracker's tuning (px, s; default: detections down to ``roi_min_peak`` count).
    ``use_roi``: False searches the whole frame every time (for comparison); ``sigma_ref_px``:
    the position sigma (px) that halves the reported confidence (None: report the track
    confidence as is). Frames: (H, W) grey, any real dtype (8- or 16-bit), at least the
    model's input size.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        min_peak: float = 0.3,
        roi_min_peak: float = 0.1,
        config: TrackerConfig | None = None,
        use_roi: bool = True,
        sigma_ref_px: float | None = SIGMA_REF_PX,
    ) -> None:
        model = backend.model
        if model.tip_channel is None:
            raise ValueError(f"model {model.name} has no tip heatmap; it cannot track a tip")
        h, w = model.input_size
        if h != w:
            raise ValueError(f"ROI tracking needs a square model input; {model.name} is {h}x{w}")
        self.backend, self.side = backend, h
        self.min_peak, self.roi_min_peak = float(min_peak), float(roi_min_peak)
        self.use_roi = use_roi
        if sigma_ref_px is not None and not sigma_ref_px > 0:
            raise ValueError(f"sigma_ref_px must be positive or None; got {sigma_ref_px}")
        self.sigma_ref_px = sigma_ref_px
        self.tracker = TipTracker(config or TrackerConfig(min_confidence=self.roi_min_peak))
        self._last_t: float | None = None
        self._last_pass: tuple[tuple[int, int, int], npt.NDArray[np.float32]] | None = None

    def reset(self) -> None:
        """Forget the track (a new sequence)."""
        self.tracker.reset()
        self._last_t = None
        self._last_pass = None

    def _detect(self, image: npt.NDArray[Any], box: tuple[int, int, int]) -> list[Candidate]:
        """Tip candidates (x, y, p) in frame px, strongest first (:func:`tip_candidates`, or
        the map's maximum when none reaches the floor), in the square ``box`` (x0, y0, side)
        of ``image`` (zero-padded where the box leaves the frame), shrunk to the model's
        input."""
        x0, y0, side = box
        rows, cols = image.shape
        crop = np.zeros((side, side), np.float32)
        ys, xs = slice(max(y0, 0), min(y0 + side, rows)), slice(max(x0, 0), min(x0 + side, cols))
        crop[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = image[ys, xs]
        if side != self.side:
            crop = np.asarray(
                cv2.resize(crop, (self.side, self.side), interpolation=cv2.INTER_AREA)
            )
        logits = self.backend.run(self.backend.model.preprocess(crop))
        self._last_pass = (box, logits[0, : self.backend.model.n_classes])
        tip_channel = self.backend.model.tip_channel
        assert tip_channel is not None
        floor = min(max(min(self.roi_min_peak, self.min_peak), 0.01), 0.99)
        found = tip_candidates(logits[0, tip_channel], floor=floor, k=CANDIDATES)
        found = found or [tip_from_heatmap(logits[0, tip_channel])]
        s = side / self.side
        return [(x0 + (x + 0.5) * s - 0.5, y0 + (y + 0.5) * s - 0.5, p) for x, y, p in found]

    def _choose(self, candidates: list[Candidate], min_peak: float) -> Candidate:
        """The strongest candidate of at least ``min_peak`` inside the track's gate, else the
        strongest of all (under contrast a vessel end can outscore the fading tip the track
        still follows)."""
        gate = self.tracker.config.gate
        inside = [
            c
            for c in candidates
            if c[2] >= min_peak and self.tracker.gate_distance((c[0], c[1]), c[2]) <= gate
        ]
        return inside[0] if inside else candidates[0]

    def last_mask(self, frame_shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
        """uint8 (H, W) class-index mask of the last model pass of :meth:`step`, at its box in
        a frame of ``frame_shape`` (zero outside the box): the catheter near the tip after an
        ROI pass, the whole frame (at the model's resolution) after a search. No model run."""
        mask = np.zeros(frame_shape, np.uint8)
        if self._last_pass is None:
            return mask
        (x0, y0, side), logits = self._last_pass
        labels = np.argmax(logits, axis=0).astype(np.uint8)
        if side != self.side:
            labels = np.asarray(
                cv2.resize(labels, (side, side), interpolation=cv2.INTER_NEAREST), np.uint8
            )
        rows, cols = frame_shape
        ys, xs = slice(max(y0, 0), min(y0 + side, rows)), slice(max(x0, 0), min(x0 + side, cols))
        mask[ys, xs] = labels[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        return mask

    def step(self, image: npt.ArrayLike, t_s: float) -> TipEstimate:
        """Track the tip in ``image`` (H, W) captured at ``t_s`` seconds."""
        frame = np.asarray(image)
        if frame.ndim != 2 or min(frame.shape) < self.side:
            raise ValueError(
                f"expected a grey (H, W) frame of at least {self.side} px; got {frame.shape}"
            )
        if self._last_t is not None:
            self.tracker.predict(max(t_s - self._last_t, 0.0))
        self._last_t = t_s
        runs, mode, peak = 0, "none", 0.0
        roi = self.tracker.roi(frame.shape, self.side) if self.use_roi else None
        hit: Candidate | None = None
        if roi is not None:
            got = self._choose(self._detect(frame, (roi[0], roi[1], self.side)), self.roi_min_peak)
            runs += 1
            if got[2] >= self.roi_min_peak:
                hit, mode = got, "roi"
            peak = got[2]
        if hit is None:
            rows, cols = frame.shape
            side = max(rows, cols)
            box = ((cols - side) // 2, (rows - side) // 2, side)
            coarse = self._choose(self._detect(frame, box), self.min_peak)
            runs += 1
            peak = max(peak, coarse[2])
            if coarse[2] >= self.min_peak:
                hit, mode = coarse, "search"
                if side > self.side:  # refine at native resolution around the coarse tip
                    half = self.side // 2
                    x0, y0 = round(coarse[0]) - half, round(coarse[1]) - half
                    x0 = min(max(x0, 0), cols - self.side)
                    y0 = min(max(y0, 0), rows - self.side)
                    runs += 1
                    near = [
                        c
                        for c in self._detect(frame, (x0, y0, self.side))
                        if c[2] >= self.min_peak
                        and math.hypot(c[0] - coarse[0], c[1] - coarse[1]) <= 2.0 * side / self.side
                    ]
                    if near:
                        hit = near[0]
        if hit is not None:
            self.tracker.update((float(hit[0]), float(hit[1])), min(1.0, float(hit[2])))
            peak = float(hit[2])
        xy = self.tracker.xy
        track = self.tracker.confidence
        found = xy is not None and track > 0.0
        sigma = self.tracker.position_sigma_px if found else math.inf
        confidence = track
        if self.sigma_ref_px is not None:
            confidence = track / (1.0 + (sigma / self.sigma_ref_px) ** 2) if found else 0.0
        return TipEstimate(
            found=found,
            x_px=float(xy[0]) if found and xy else math.nan,
            y_px=float(xy[1]) if found and xy else math.nan,
            confidence=confidence,
            peak=float(peak),
            mode=mode,  # type: ignore[arg-type]
            model_runs=runs,
            track_confidence=track,
            sigma_px=sigma,
        )
