"""A navigation policy as live guidance: the shipped ``orstream/CatheterNav-v0`` policy steering
a robot-held catheter from what each frame shows (docs/robot-feed.md, "Closed loop").

:class:`NavPolicyGuidance` keeps the tip's place on a vessel roadmap. Between frames it moves
that place by the robot's motion (the gate's ``advance`` and ``rotate`` positions, the
environment's kinematics: the pre-curved tip picks the branch at a bifurcation); when the
tracked tip (px times the frame's spacing) is more than ``relocate_mm`` from it, the place is
set from the tracked tip (:meth:`NavTree.nearest`); beyond ``jump_mm`` the tracked tip is
implausible (the tracker jumped to something else): the proposal asks for no motion with
confidence 0, so the gate holds, and the place is kept, unless the tracker shows a confident
tip steadily elsewhere for ``reacquire_frames`` frames (the place was wrong). Only tips of at
least ``min_confidence`` (the gate's) set or move the place. Arrival (within ``SUCCESS_MM`` of
the target) needs the tracked tip's place to agree (:func:`confirm_arrival`): dead reckoning
drifts a few tenths of a mm from the catheter, and a place that arrives early would stop the
robot short for good. The policy's observation is then the
environment's (``nav_observation``): the tracked tip with its confidence, the roadmap around
the place, the roll from the ``rotate`` axis; contact force is not sensed (0). Its action in
[-1, 1] is scaled to velocities the gate allows, with the trained ratio of advance to rotate
kept, and held for as long as one environment step lasts at that speed (``1 / (CONTROL_HZ x
scale)`` s: the motion of one decision is the trained step's, as in evaluation); a move that
would leave an axis' workspace within the gate's look-ahead is dropped (the gate would HOLD
on it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..sim import (
    ADVANCE_MM_S,
    BEND_RAD,
    CONTROL_HZ,
    ROTATE_RAD_S,
    SUCCESS_MM,
    NavRoadmap,
    NavTree,
    Tip,
    along_tree_mm,
    nav_observation,
    route_flags,
)
from ._gate_settings import AxisLimits
from ._guidance import GuidanceObservation, GuidanceProposal
from ._nav_scripted import NavPolicy

RELOCATE_MM = 2.0
"""A tracked tip farther than this from the kept place on the roadmap moves the place to it."""
JUMP_MM = 10.0
"""A tracked tip farther than this from the kept place cannot be the catheter the robot moved
(15 frames of motion at the gate's 10 mm/s): guidance trusts it 0 and asks for no motion."""
MIN_CONFIDENCE = 0.5
"""Tips under this confidence do not move the kept place (the shipped gates' ``min_confidence``:
they hold such a command)."""
REACQUIRE_FRAMES = 15
"""Confident, steady tips away from the kept place for this many frames in a row (1 s at 15
fps, the robot held still meanwhile) move the place to them: the place was the wrong one."""


def steady_away(
    run: list[tuple[float, float]], seen: tuple[float, float], confident: bool, frames: int
) -> bool:
    """Add tracked tip ``seen`` (mm) to ``run``, the tips seen away from the kept place in a
    row (emptied by a tip that is not ``confident`` or moved more than ``RELOCATE_MM``), and
    say whether ``frames`` confident, steady ones are in it: the kept place was wrong."""
    if not confident or (run and math.dist(run[-1], seen) > RELOCATE_MM):
        run.clear()
    if confident:
        run.append(seen)
    return len(run) >= frames


def confirm_arrival(
    nav: NavTree, place: Tip, seen: tuple[float, float], dist: Sequence[float]
) -> Tip:
    """The place to keep for a confident tracked tip ``seen`` (mm): ``place``, unless it is
    within ``SUCCESS_MM`` of the target (``dist``: :meth:`NavTree.distances_from` it) and the
    tracked tip's own place near it is not; then that one, so guidance arrives only when both
    say so."""
    if along_tree_mm(nav, place, dist) > SUCCESS_MM:
        return place
    seen_place = nav.nearest(*seen, near=place)
    return seen_place if along_tree_mm(nav, seen_place, dist) > SUCCESS_MM else place


def gate_speed_scale(axes: dict[str, AxisLimits]) -> float:
    """The largest factor on the trained caps (``ADVANCE_MM_S``, ``ROTATE_RAD_S``) under every
    axis' ``max_rate`` (1.0 at most)."""
    return min(1.0, axes["advance"].max_rate / ADVANCE_MM_S, axes["rotate"].max_rate / ROTATE_RAD_S)


class NavPolicyGuidance:
    """``policy`` (an ``orstream/CatheterNav-v0`` policy: the shipped ONNX one, an exported one,
    or the scripted controller) on ``roadmap`` behind a gate
    whose axes are ``axes`` (see the module docstring). ``speed_scale``: the factor on the
    trained caps (default: :func:`gate_speed_scale`). ``relocations`` counts the frames on
    which the tracked tip moved the kept place, ``implausible`` those it was refused on."""

    def __init__(
        self,
        policy: NavPolicy,
        roadmap: NavRoadmap,
        axes: dict[str, AxisLimits],
        *,
        speed_scale: float | None = None,
        lookahead_s: float = 0.15,
        jump_mm: float = JUMP_MM,
        min_confidence: float = MIN_CONFIDENCE,
        reacquire_frames: int = REACQUIRE_FRAMES,
    ) -> None:
        missing = {"advance", "rotate"} - set(axes)
        if missing:
            raise ValueError(f"a catheter policy needs gate axes advance and rotate ({missing})")
        self.name = f"policy:{policy.name}"
        self.policy, self.roadmap, self.axes = policy, roadmap, axes
        self.scale = gate_speed_scale(axes) if speed_scale is None else speed_scale
        if not 0 < self.scale <= 1:
            raise ValueError(f"speed_scale must be in (0, 1] (got {self.scale})")
        self.lookahead_s, self.jump_mm = lookahead_s, jump_mm
        self.min_confidence, self.reacquire_frames = min_confidence, reacquire_frames
        self._unexplained: list[tuple[float, float]] = []
        nav = roadmap.nav
        self._dist = nav.distances_from(roadmap.target)
        self._on_route = route_flags(nav, roadmap.target)
        self.tip: Tip | None = None
        self._advance_mm = 0.0
        self._action = (0.0, 0.0)
        self._decided_ns: int | None = None
        self.hold_ns = round(1e9 / (CONTROL_HZ * self.scale))
        """How long one decision's action is held, ns (capture time)."""
        self.relocations = 0
        self.implausible = 0

    def __call__(self, observation: GuidanceObservation) -> GuidanceProposal:
        if observation.tip_px is None:
            return GuidanceProposal({}, None, "no_tip")
        if observation.spacing_mm is None:
            return GuidanceProposal({}, None, "no_spacing")
        nav = self.roadmap.nav
        row_mm, col_mm = observation.spacing_mm
        seen = (observation.tip_px[0] * col_mm, observation.tip_px[1] * row_mm)
        advance = float(observation.position.get("advance", 0.0))
        roll = float(observation.position.get("rotate", 0.0))
        bend = BEND_RAD * math.sin(roll)
        tip = self.tip
        if tip is not None and advance > self._advance_mm:
            nav.advance(tip, advance - self._advance_mm, bend)
        elif tip is not None and advance < self._advance_mm:
            nav.retract(tip, self._advance_mm - advance)
        self._advance_mm = advance
        confident = observation.confidence >= self.min_confidence
        if tip is None and not confident:
            return GuidanceProposal({}, None, "no_tip")  # no place on the roadmap yet
        gap = math.inf if tip is None else math.dist(nav.tip_xy(tip), seen)
        if tip is not None and gap > self.jump_mm and not self._steady(seen, confident):
            self.implausible += 1
            return GuidanceProposal({}, along_tree_mm(nav, tip, self._dist), "implausible", 0.0)
        self._unexplained.clear()
        if confident and (tip is None or gap > RELOCATE_MM):
            tip = self.tip = nav.nearest(*seen, near=None if gap > self.jump_mm else tip)
            self.relocations += 1
        assert tip is not None
        if confident and (checked := confirm_arrival(nav, tip, seen, self._dist)) is not tip:
            tip = self.tip = checked
            self.relocations += 1
        to_target = along_tree_mm(nav, tip, self._dist)
        if to_target <= SUCCESS_MM:
            return GuidanceProposal({}, to_target, "arrived")
        t_ns = observation.t_capture_ns
        if self._decided_ns is None or t_ns - self._decided_ns >= self.hold_ns:
            obs = nav_observation(
                nav,
                tip,
                roll=roll,
                target=self.roadmap.target,
                to_target_mm=to_target,
                on_route=self._on_route,
                seen_xy=seen,
                confidence=observation.confidence,
                last_action=self._action,
                force_n=0.0,
                bend=bend,
            )
            act = self.policy.act(obs)
            self._action, self._decided_ns = (float(act[0]), float(act[1])), t_ns
        velocity = {
            "advance": self._inside(
                "advance", self._action[0] * ADVANCE_MM_S * self.scale, observation
            ),
            "rotate": self._inside(
                "rotate", self._action[1] * ROTATE_RAD_S * self.scale, observation
            ),
        }
        return GuidanceProposal(velocity, to_target, "following")

    def _steady(self, seen: tuple[float, float], confident: bool) -> bool:
        """Whether the tracker has shown a confident tip, steady within ``RELOCATE_MM``, away
        from the kept place for ``reacquire_frames`` frames in a row: then the kept place is
        the one that is wrong (a bad first fix), and the tracked tip is taken."""
        return steady_away(self._unexplained, seen, confident, self.reacquire_frames)

    def _inside(self, axis: str, velocity: float, observation: GuidanceObservation) -> float:
        """``velocity``, or 0 when it would take ``axis`` out of its workspace within the
        look-ahead (a margin of one look-ahead at the axis' top speed)."""
        limits = self.axes[axis]
        at = float(observation.position.get(axis, 0.0))
        margin = limits.max_rate * self.lookahead_s
        ahead = at + velocity * self.lookahead_s
        if velocity < 0 and ahead < limits.min_position + margin:
            return 0.0
        if velocity > 0 and ahead > limits.max_position - margin:
            return 0.0
        return velocity
