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

As in the live loop (:class:`NavPolicyGuidance`'s plausibility check), a tracked tip more than
``jump_mm`` from where the robot's motion puts it (here: the kinematic tip, which dead
reckoning from the robot's axes gives exactly in simulation) is refused: the last plausible
tip is repeated with confidence 0 and :attr:`PerceivedTip.hold` is set, so the episode runner
holds the catheter still for that step, as the live guidance proposes no motion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import RoiTipTracker, load_backend, load_model
from ..sim import CONTROL_HZ, NavFluoroRenderer
from ._nav_guidance import JUMP_MM


class PerceivedTip:
    """A ``TipObserver`` for the environment: env -> (x mm, y mm, confidence)."""

    def __init__(
        self,
        model: str = "fluoro-catheter",
        size: int = 512,
        threads: int = 1,
        jump_mm: float | None = JUMP_MM,
    ) -> None:
        self.jump_mm = jump_mm
        self.hold = False
        """Whether the last tip was refused as implausible (the step should not move)."""
        self.holds = 0
        """Steps refused as implausible, over all episodes."""
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
        self.hold = False
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
        if self.jump_mm is not None and self.errors_mm[-1] > self.jump_mm:
            self.hold, self.holds = True, self.holds + 1
            lx, ly = self._last if self._last is not None else (x, y)
            return lx, ly, 0.0
        self._last = (px, py)
        return px, py, float(est.confidence)
