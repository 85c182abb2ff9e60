"""Perception in the loop for ``orstream/CatheterNav-v0``: each step is rendered as a
fluoroscopy frame of the episode's tree and catheter (:class:`~orstream.sim.NavFluoroRenderer`)
and the shipped fluoro-catheter model's ROI tip tracker (:class:`~orstream.kernels.RoiTipTracker`,
as the live fluoro pipeline runs it) finds the tip; the policy then sees the tracked tip and its
confidence instead of the truth.

The tracker's error (tracked px minus the rendered true tip px, breathing included) is
carried over to the episode's tip in mm: a roadmap registered to the breathing frame, as a
live pipeline keeps it. The roadmap features (next bifurcation, distance to the target along
the tree) are read at the place on the roadmap that live guidance (:class:`NavPolicyGuidance`)
would keep, not at the true tip: the place starts where the catheter enters (live guidance
takes its first confident tip instead), is moved by the robot's last motion (dead reckoning
with the environment's kinematics) and is set from the tracked tip (:meth:`NavTree.nearest`)
when that is more than ``RELOCATE_MM`` from it. When the track is lost, or the tip is outside
the collimated field, the last perceived tip is repeated with confidence 0. The view is centred
on the episode's route and follows the tip when it nears the field's edge, as an operator pans
the table.

As in the live loop, a tracked tip more than ``jump_mm`` from the kept place is refused: the
last plausible tip is repeated with confidence 0 and :attr:`PerceivedTip.hold` is set, so the
episode runner holds the catheter still for that step, as the live guidance proposes no motion.
A lost track, a tip under ``min_confidence`` (the safety gate's threshold), or a kept place
within ``SUCCESS_MM`` of the target that the tracked tip's place agrees with (live guidance
says "arrived" and stops; ``confirm_arrival``) holds the step too. As live guidance does,
confident tips steady away from the kept place for ``REACQUIRE_FRAMES`` steps in a row are
taken (the kept place was the wrong one).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..kernels import RoiTipTracker, load_backend, load_model
from ..sim import CONTROL_HZ, STEP_MM, SUCCESS_MM, NavFluoroRenderer, SeenTip, Tip, along_tree_mm
from ._nav_guidance import (
    JUMP_MM,
    MIN_CONFIDENCE,
    REACQUIRE_FRAMES,
    RELOCATE_MM,
    confirm_arrival,
    steady_away,
)

PAN_AT = 0.8
"""Share of the collimated field's radius beyond which the view is panned onto the tip."""


class PerceivedTip:
    """A ``TipObserver`` for the environment: env -> :class:`SeenTip` (see the module
    docstring)."""

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
        self.relocations = 0
        """Steps on which the tracked tip moved the kept place, over all episodes."""
        self.arrived = 0
        """Steps held because the kept place was within ``SUCCESS_MM`` of the target."""
        self.place: Tip | None = None
        """Where live guidance would put the tip on the roadmap (the start place at reset)."""
        self.backend = load_backend(load_model(model), "onnxruntime", threads=threads)
        self.tracker = RoiTipTracker(self.backend)
        self.size = size
        self.renderer: NavFluoroRenderer | None = None
        """The view of the current episode's tree (rebuilt on a new tree or a pan)."""
        self.pans = 0
        """Views re-centred on the tip, over all episodes."""
        self._last: tuple[float, float] | None = None
        self._unexplained: list[tuple[float, float]] = []
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

    def _dead_reckon(self, env: Any) -> None:
        """Move the kept place by the robot's last motion, as the environment moved the tip."""
        move, place = float(env.last_action[0]) * STEP_MM, self.place
        if place is not None and move > 0:
            env.nav.advance(place, move, env.bend())
        elif place is not None and move < 0:
            env.nav.retract(place, -move)

    def _steady(self, seen: tuple[float, float], confidence: float) -> bool:
        """Whether confident tips have stayed within ``RELOCATE_MM`` of each other, away from
        the kept place, for ``REACQUIRE_FRAMES`` steps in a row (live guidance then takes the
        tracked tip: the kept place was the wrong one)."""
        confident = self.min_confidence is None or confidence >= self.min_confidence
        return steady_away(self._unexplained, seen, confident, REACQUIRE_FRAMES)

    def _refused(self, fallback: tuple[float, float]) -> SeenTip:
        """The step holds: the last plausible tip (or ``fallback``) with confidence 0."""
        self.hold = True
        x, y = self._last if self._last is not None else fallback
        return SeenTip(x, y, 0.0, self.place)

    def __call__(self, env: Any) -> SeenTip:
        nav, tip = env.nav, env.tip
        if env.steps == 0:  # the catheter enters at the access point the roadmap shows
            self._last = None
            self._unexplained.clear()
            self.place = Tip(tip.node, tip.along_mm)
        else:
            self._dead_reckon(env)
        self.hold = False
        x, y = nav.tip_xy(tip)
        route = nav.path_to(tip.node)[:-1][::-1]
        pts = np.array([(x, y)] + [(nav.x[a], nav.y[a]) for a in route], dtype=np.float64)
        renderer = self._view(env, (x, y))
        image, truth_px = renderer.render(pts, env.steps)
        est = self.tracker.step(image, env.steps / CONTROL_HZ)
        seen = np.hypot(*(truth_px - renderer.half)) < renderer.field_px  # in the collimator
        if not (est.found and seen):  # confidence 0: the gate holds
            self.gated += 1
            return self._refused((x, y))
        scale = renderer.mm_per_px / renderer.zoom
        px, py = x + (est.x_px - truth_px[0]) * scale, y + (est.y_px - truth_px[1]) * scale
        self.errors_mm.append(float(np.hypot(px - x, py - y)))
        place = self.place
        assert place is not None
        gap = math.dist(nav.tip_xy(place), (px, py))
        confidence = float(est.confidence)
        far = self.jump_mm is not None and gap > self.jump_mm
        if far and not self._steady((px, py), confidence):
            self.holds += 1
            return self._refused((x, y))
        self._unexplained.clear()
        if self.min_confidence is not None and confidence < self.min_confidence:
            self.hold, self.gated = True, self.gated + 1
            return SeenTip(px, py, confidence, place)
        if gap > RELOCATE_MM:
            near = None if far else place
            place = self.place = nav.nearest(px, py, near=near)
            self.relocations += 1
        if (checked := confirm_arrival(nav, place, (px, py), env.dist)) is not place:
            place = self.place = checked
            self.relocations += 1
        if along_tree_mm(nav, place, env.dist) <= SUCCESS_MM:
            self.hold, self.arrived = True, self.arrived + 1
        self._last = (px, py)
        return SeenTip(px, py, confidence, place)
