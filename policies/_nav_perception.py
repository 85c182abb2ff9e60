"""Perception in the loop for ``orstream/CatheterNav-v0``: each step is rendered as a
fluoroscopy frame of the episode's tree and catheter (:class:`~orstream.sim.NavFluoroRenderer`)
and the shipped fluoro-catheter model's ROI tip tracker (:class:`~orstream.kernels.RoiTipTracker`,
as the live fluoro pipeline runs it) finds the tip; the policy then sees the tracked tip and its
confidence instead of the truth.

The tracker's error (tracked px minus the rendered true tip px, breathing included) is
carried over to the episode's tip in mm: a roadmap registered to the breathing frame, as a
live pipeline keeps it. The roadmap features (next bifurcation, distances along the tree)
stay those of the true tip's place on the tree. When the track is lost, or the tip is outside
the collimated field, the last perceived tip is repeated with confidence 0. The view is centred
on the episode's route and follows the tip when it nears the field's edge, as an operator pans
the table.

As in the live loop (:class:`NavPolicyGuidance`'s plausibility check), a tracked tip more than
``jump_mm`` from where the robot's motion puts it (here: the kinematic tip, which dead
reckoning from the robot's axes gives exactly in simulation) is refused: the last plausible
tip is repeated with confidence 0 and :attr:`PerceivedTip.hold` is set, so the episode runner
holds the catheter still for that step, as the live guidance proposes no motion. A lost track,
or a tip under ``min_confidence`` (the safety gate's threshold), holds the step too, as the
gate holds such a command.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import RoiTipTracker, load_backend, load_model
from ..sim import CONTROL_HZ, NavFluoroRenderer
from ._nav_guidance import JUMP_MM, MIN_CONFIDENCE

PAN_AT = 0.8
"""Share of the collimated field's radius beyond which the view is panned onto the tip."""


class PerceivedTip:
    """A ``TipObserver`` for the environment: env -> (x mm, y mm, confidence)."""

    def __init__(
        self,
        model: str = "fluoro-catheter",
        size: int = 512,
        threads: int = 1,
        jump_mm: float | None = JUMP_MM,
        min_confidence: float | None = MIN_CONFIDENCE,
    ) -> None:
        self.jump_mm, self.min_confidence = jump_mm, min_confidence
        self.hold = False
        """Whether the last step should not move (its tip refused or under the gate's
        confidence)."""
        self.holds = 0
        """Steps refused as implausible, over all episodes."""
        self.gated = 0
        """Steps held for a confidence under ``min_confidence`` (a lost track included)."""
        self.backend = load_backend(load_model(model), "onnxruntime", threads=threads)
        self.tracker = RoiTipTracker(self.backend)
        self.size = size
        self.renderer: NavFluoroRenderer | None = None
        """The view of the current episode's tree (rebuilt on a new tree or a pan)."""
        self.pans = 0
        """Views re-centred on the tip, over all episodes."""
        self._last: tuple[float, float] | None = None
        self.errors_mm: list[float] = []
        """Distance from the tracked to the true tip, mm, for each step the track held."""

    def _view(self, env: Any, tip_mm: tuple[float, float]) -> NavFluoroRenderer:
        """The C-arm's view: on a new episode centred on the route from the entry to the
        target; panned to centre the tip when it comes within the outer ``1 - PAN_AT`` of the
        collimated field's radius (the tracker then starts afresh, as after a table move)."""
        nav, r = env.nav, self.renderer
        if env.steps == 0 or r is None or r.nav is not nav:
            route = nav.pos[nav.path_to(env.target)]
            centre = 0.5 * (route.min(0) + route.max(0))
        else:
            off = r.to_px(np.array([tip_mm]))[0] - r.half
            if np.hypot(*off) <= PAN_AT * r.field_px:
                return r
            centre, self.pans = np.array(tip_mm), self.pans + 1
        self.tracker.reset()
        self.renderer = NavFluoroRenderer(nav, self.size, centre_mm=centre)
        return self.renderer

    def __call__(self, env: Any) -> tuple[float, float, float]:
        nav, tip = env.nav, env.tip
        if env.steps == 0:
            self._last = None
        self.hold = False
        x, y = nav.tip_xy(tip)
        route = nav.path_to(tip.node)[:-1][::-1]
        pts = np.array([(x, y)] + [(nav.x[a], nav.y[a]) for a in route], dtype=np.float64)
        renderer = self._view(env, (x, y))
        image, truth_px = renderer.render(pts, env.steps)
        est = self.tracker.step(image, env.steps / CONTROL_HZ)
        seen = np.hypot(*(truth_px - renderer.half)) < renderer.field_px  # in the collimator
        if not (est.found and seen):  # confidence 0: the gate holds
            self.hold, self.gated = True, self.gated + 1
            lx, ly = self._last if self._last is not None else (x, y)
            return lx, ly, 0.0
        scale = renderer.mm_per_px / renderer.zoom
        px, py = x + (est.x_px - truth_px[0]) * scale, y + (est.y_px - truth_px[1]) * scale
        self.errors_mm.append(float(np.hypot(px - x, py - y)))
        if self.jump_mm is not None and self.errors_mm[-1] > self.jump_mm:
            self.hold, self.holds = True, self.holds + 1
            lx, ly = self._last if self._last is not None else (x, y)
            return lx, ly, 0.0
        confidence = float(est.confidence)
        if self.min_confidence is not None and confidence < self.min_confidence:
            self.hold, self.gated = True, self.gated + 1
            return px, py, confidence
        self._last = (px, py)
        return px, py, confidence
