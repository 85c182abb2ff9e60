"""Tip tracking: a constant-velocity Kalman filter on (x, y) px with a track confidence.

The detector (a heatmap model and :func:`subpixel_peak`) gives a tip position and a confidence
per frame, or nothing. :class:`TipTracker` smooths the positions, predicts through missing
frames, gates outliers and keeps a track confidence in 0..1, which the pipeline uses for ROI
tracking: while the track is confident, the model runs on a crop around the predicted tip
(:meth:`TipTracker.roi`), otherwise on the whole frame. On 1024x1024 fluoroscopy a 256x256
crop is 1/16 of the pixels.

Model (per axis): state (p, v) in px and px/s; between frames p += v dt with white-noise
acceleration of spectral density ``accel_px_s2**2 * dt`` (discrete Q = q [[dt^3/3, dt^2/2],
[dt^2/2, dt]]); measurement noise ``(noise_px / confidence)**2``, so a weak detection counts
less. An update whose innovation has a squared Mahalanobis distance d2 above ``soft_gate`` counts
less again (its measurement variance times d2 / soft_gate, a Huber weight: one detection on a
neighbouring structure must not kick the velocity); above ``gate`` (chi-square with 2 degrees
of freedom; 13.8 rejects 0.1 % of good measurements) it is rejected as an outlier;
``reinit_after`` consecutive rejections that agree with each other restart the track there
(the tip really moved, or the track had locked onto something else).

Track confidence: ``c *= exp(-dt / decay_s)`` at each prediction, and an accepted update moves
it toward 1 by ``gain * confidence``: about 0.95 with good detections at 30 fps, below 0.5
after about a third of a second without any.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Update = Literal["initialized", "accepted", "rejected", "ignored", "reinitialized"]
"""What :meth:`TipTracker.update` did with a measurement."""


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning of :class:`TipTracker` (pixels and seconds).

    ``noise_px``: detector noise (1 sigma) at confidence 1; ``accel_px_s2``: how hard the tip
    accelerates (1 sigma); ``init_speed_px_s``: velocity uncertainty of a new track; ``gate``:
    squared Mahalanobis distance above which a measurement is an outlier; ``soft_gate``: the
    distance above which an accepted measurement is down-weighted; ``min_confidence``:
    detections below it are ignored; ``reinit_after``: consecutive agreeing outliers that
    restart the track; ``decay_s``: time constant of the track confidence without updates;
    ``gain``: how fast an accepted update raises it; ``roi_confidence``: track confidence
    needed for ROI tracking.
    """

    noise_px: float = 2.0
    accel_px_s2: float = 400.0
    init_speed_px_s: float = 200.0
    gate: float = 13.8
    soft_gate: float = 4.0
    min_confidence: float = 0.2
    reinit_after: int = 3
    decay_s: float = 0.5
    gain: float = 0.6
    roi_confidence: float = 0.5

    def __post_init__(self) -> None:
        positive = ("noise_px", "accel_px_s2", "init_speed_px_s", "gate", "soft_gate", "decay_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"TrackerConfig.{name} must be positive; got {getattr(self, name)}"
                )
        for name in ("min_confidence", "gain", "roi_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"TrackerConfig.{name} must be in 0..1; got {getattr(self, name)}")
        if self.soft_gate > self.gate:
            raise ValueError(f"TrackerConfig.soft_gate {self.soft_gate} is above gate {self.gate}")
        if self.reinit_after < 1:
            raise ValueError(f"TrackerConfig.reinit_after must be >= 1; got {self.reinit_after}")


class TipTracker:
    """Constant-velocity Kalman filter on a 2D tip position (x, y) px; see the module doc.

    Per frame: ``predict(dt_s)`` then ``update(xy, confidence)`` when the detector found the
    tip (skip the update when it did not). ``roi(frame_shape, size)`` says where to run the
    model next.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._x: F64 = np.zeros(4)  # x, y, vx, vy
        self._p: F64 = np.eye(4)
        self._c = 0.0
        self._initialized = False
        self._rejected: list[F64] = []
        self.n_rejected = 0
        """Outliers rejected since construction (a counter for logs)."""

    # -- state -----------------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        """Whether any measurement has started the track."""
        return self._initialized

    @property
    def xy(self) -> tuple[float, float] | None:
        """Current (predicted or filtered) tip position (x, y) px, None before the first fix."""
        return (float(self._x[0]), float(self._x[1])) if self._initialized else None

    @property
    def velocity(self) -> tuple[float, float]:
        """Estimated velocity (vx, vy) in px/s."""
        return float(self._x[2]), float(self._x[3])

    @property
    def confidence(self) -> float:
        """Track confidence in 0..1 (0 before the first fix)."""
        return self._c

    @property
    def position_sigma_px(self) -> float:
        """1-sigma position uncertainty along the worst direction (px); inf before a fix."""
        if not self._initialized:
            return math.inf
        return float(math.sqrt(max(np.linalg.eigvalsh(self._p[:2, :2]))))

    def reset(self) -> None:
        """Forget the track (e.g. when the view changes)."""
        self._initialized, self._c, self._rejected = False, 0.0, []

    # -- filter ----------------------------------------------------------------------------------
    def predict(self, dt_s: float) -> tuple[float, float] | None:
        """Advance the track by ``dt_s`` seconds (>= 0); returns the predicted (x, y) px."""
        if not dt_s >= 0.0:
            raise ValueError(f"dt_s must be >= 0 seconds; got {dt_s}")
        if not self._initialized:
            return None
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt_s
        q = self.config.accel_px_s2**2
        qa = np.array([[dt_s**3 / 3, dt_s**2 / 2], [dt_s**2 / 2, dt_s]]) * q
        qm = np.zeros((4, 4))
        qm[np.ix_([0, 2], [0, 2])] = qa
        qm[np.ix_([1, 3], [1, 3])] = qa
        self._x = f @ self._x
        self._p = f @ self._p @ f.T + qm
        self._c *= math.exp(-dt_s / self.config.decay_s)
        return self.xy

    def update(self, xy: tuple[float, float], confidence: float = 1.0) -> Update:
        """Fuse a detection at ``xy`` (x, y) px with detector ``confidence`` in 0..1.

        Returns "initialized" (first fix, or after :meth:`reset`), "accepted", "rejected"
        (outside the gate), "ignored" (confidence below ``min_confidence``) or
        "reinitialized" (``reinit_after`` agreeing outliers in a row, or a lost track).
        """
        cfg = self.config
        z = np.asarray(xy, np.float64).reshape(2)
        if not np.all(np.isfinite(z)) or not 0.0 <= confidence <= 1.0:
            raise ValueError(
                f"need finite (x, y) px and confidence in 0..1; got {xy}, {confidence}"
            )
        if confidence < cfg.min_confidence:
            return "ignored"
        if not self._initialized:
            self._start(z, confidence)
            return "initialized"
        d2 = self.gate_distance(xy, confidence)
        if d2 > cfg.gate:
            return self._reject(z, confidence)
        weight = min(1.0, cfg.soft_gate / d2) if d2 > 0 else 1.0
        confidence *= math.sqrt(weight)
        r = (cfg.noise_px / confidence) ** 2 * np.eye(2)
        h = np.zeros((2, 4))
        h[0, 0] = h[1, 1] = 1.0
        s = h @ self._p @ h.T + r
        nu = z - h @ self._x
        k = self._p @ h.T @ np.linalg.inv(s)
        self._x = self._x + k @ nu
        ikh = np.eye(4) - k @ h
        self._p = ikh @ self._p @ ikh.T + k @ r @ k.T  # Joseph form: stays symmetric PSD
        self._c = 1.0 - (1.0 - self._c) * (1.0 - cfg.gain * confidence)
        self._rejected = []
        return "accepted"

    def gate_distance(self, xy: tuple[float, float], confidence: float = 1.0) -> float:
        """Squared Mahalanobis distance of a detection at ``xy`` (x, y) px with ``confidence``
        from the predicted tip (what ``gate`` and ``soft_gate`` compare); inf before a fix."""
        if not self._initialized:
            return math.inf
        r = (self.config.noise_px / max(confidence, 1e-6)) ** 2
        s = self._p[:2, :2] + r * np.eye(2)
        nu = np.asarray(xy, np.float64).reshape(2) - self._x[:2]
        return float(nu @ np.linalg.solve(s, nu))

    def _start(self, z: F64, confidence: float) -> None:
        cfg = self.config
        self._x = np.array([z[0], z[1], 0.0, 0.0])
        pos = (cfg.noise_px / confidence) ** 2
        self._p = np.diag([pos, pos, cfg.init_speed_px_s**2, cfg.init_speed_px_s**2])
        self._c = cfg.gain * confidence
        self._initialized = True
        self._rejected = []

    def _reject(self, z: F64, confidence: float) -> Update:
        cfg = self.config
        self.n_rejected += 1
        lost = self._c < cfg.roi_confidence * 0.5
        near = not self._rejected or float(np.linalg.norm(z - self._rejected[-1])) <= 3.0 * (
            cfg.noise_px / confidence
        ) + 0.1 * float(np.hypot(*self._x[2:]))
        self._rejected = [*self._rejected, z] if near else [z]
        if lost or len(self._rejected) >= cfg.reinit_after:
            self._start(z, confidence)
            return "reinitialized"
        return "rejected"

    # -- region of interest ----------------------------------------------------------------------
    def roi(
        self, frame_shape: tuple[int, int], size: int | tuple[int, int]
    ) -> tuple[int, int, int, int] | None:
        """Crop window (x0, y0, w, h) px of ``size`` (h, w) around the predicted tip, shifted to
        lie inside a frame of ``frame_shape`` (H, W); None (use the whole frame) when the track
        is not confident, the 3-sigma position uncertainty does not fit in the central half of
        the window, or the window is not smaller than the frame."""
        rows, cols = int(frame_shape[0]), int(frame_shape[1])
        h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if h <= 0 or w <= 0:
            raise ValueError(f"roi size must be positive; got {size}")
        if not self._initialized or self._c < self.config.roi_confidence:
            return None
        if h >= rows and w >= cols:
            return None
        h, w = min(h, rows), min(w, cols)
        if 3.0 * self.position_sigma_px > min(h, w) / 4.0:
            return None
        x0 = round(self._x[0] - (w - 1) / 2.0)
        y0 = round(self._x[1] - (h - 1) / 2.0)
        x0 = int(min(max(x0, 0), cols - w))
        y0 = int(min(max(y0, 0), rows - h))
        return x0, y0, w, h
