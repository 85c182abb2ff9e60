"""Perception in the loop for ``orstream/CatheterNav-v0``: each step is rendered as a
fluoroscopy frame (:class:`~orstream.sim.NavFluoroRenderer`) and the shipped fluoro-catheter
model's ROI tip tracker (:class:`~orstream.kernels.RoiTipTracker`, as the live fluoro pipeline
runs it) finds the tip; the policy then sees the tracked tip and its confidence instead of
the truth.

The tracker's error (tracked px minus the rendered true tip px, breathing included) is
carried over to the episode's tip in mm: a roadmap registered to the breathing frame, as a
live pipeline keeps it. The roadmap features (next bifurcation, distances along the tree)
stay those of the true tip's place on the tree. When the track is lost, or the tip is outside
the collimated field, the last perceived tip is repeated with confidence 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import RoiTipTracker, load_backend, load_model
from ..sim import CONTROL_HZ, NavFluoroRenderer


class PerceivedTip:
    """A ``TipObserver`` for the environment: env -> (x mm, y mm, confidence)."""

    def __init__(self, model: str = "fluoro-catheter", size: int = 512, threads: int = 1) -> None:
        self.backend = load_backend(load_model(model), "onnxruntime", threads=threads)
        self.tracker = RoiTipTracker(self.backend)
        self.size = size
        self._renderers: dict[tuple[str, float], NavFluoroRenderer] = {}
        self._last: tuple[float, float] | None = None
        self.errors_mm: list[float] = []
        """Distance from the tracked to the true tip, mm, for each step the track held."""

    def _renderer(self, name: str, mm_per_px: float) -> NavFluoroRenderer:
        key = (name, mm_per_px)
        if key not in self._renderers:
            self._renderers[key] = NavFluoroRenderer(name, mm_per_px, self.size)
        return self._renderers[key]

    def __call__(self, env: Any) -> tuple[float, float, float]:
        nav, tip = env.nav, env.tip
        if env.steps == 0:
            self.tracker.reset()
            self._last = None
        x, y = nav.tip_xy(tip)
        route = nav.path_to(tip.node)[:-1][::-1]
        pts = np.array([(x, y)] + [(nav.x[a], nav.y[a]) for a in route], dtype=np.float64)
        renderer = self._renderer(nav.name, nav.mm_per_px)
        image, truth_px = renderer.render(pts, env.steps)
        est = self.tracker.step(image, env.steps / CONTROL_HZ)
        seen = np.hypot(*(truth_px - renderer.half)) < 0.45 * self.size  # inside the collimator
        if not (est.found and seen):
            lx, ly = self._last if self._last is not None else (x, y)
            return lx, ly, 0.0
        scale = nav.mm_per_px / renderer.zoom
        px, py = x + (est.x_px - truth_px[0]) * scale, y + (est.y_px - truth_px[1]) * scale
        self.errors_mm.append(float(np.hypot(px - x, py - y)))
        self._last = (px, py)
        return px, py, float(est.confidence)
