"""Guidance: from what a frame shows (the tracked tip, a target) to the velocities a robot is
asked for, before the safety gate judges them (docs/robot-feed.md, "Guidance").

:class:`Guidance` is the seam: a scripted law (:class:`FollowTargetGuidance`) or a learned
policy implements ``__call__(observation) -> GuidanceProposal``. A proposal is only a wish:
every one goes through :class:`~orstream.policies.SafetyGate`, which limits or refuses it.

Positions are (x, y) = (column, row) in frame pixels; ``spacing_mm`` is (row, column) mm per
pixel, as on :class:`~orstream.stream.Frame`. Velocities are per axis in the axis' unit/s
(``advance`` mm/s, ``rotate`` rad/s for the shipped catheter robot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, runtime_checkable

GuidanceNote = Literal["following", "arrived", "no_target", "no_tip", "no_spacing", "implausible"]
"""What a proposal is about: moving toward the target, there already, or why it asks for no
motion (no target given, no tip found, no pixel spacing to measure a distance in mm, a
tracked tip that cannot be where the robot's motion puts it)."""

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class GuidanceObservation:
    """What guidance sees of one frame: its ``frame_seq`` and ``t_capture_ns``; the tracked
    ``tip_px`` (None when not found) with the perception's ``confidence`` (0-1); the
    ``target_px`` (None when there is none); ``spacing_mm`` (row, column; None unknown);
    ``position``: where the robot is, per axis (the axis' unit)."""

    frame_seq: int
    t_capture_ns: int
    tip_px: Point | None
    confidence: float
    target_px: Point | None
    spacing_mm: tuple[float, float] | None
    position: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GuidanceProposal:
    """The velocities guidance asks for (axis -> unit/s; axes left out are 0), the remaining
    ``distance_to_target_mm`` (None without a tip, a target or a spacing) and a ``note``.
    ``confidence``: the guidance's own trust (0-1) in what it saw (None: no opinion); the gate
    judges the lower of it and the perception's."""

    velocity: Mapping[str, float]
    distance_to_target_mm: float | None
    note: GuidanceNote
    confidence: float | None = None


@runtime_checkable
class Guidance(Protocol):
    """Anything that proposes velocities from an observation: a scripted law or a policy.
    Called on the pipeline's thread, one frame at a time, frames in order."""

    name: str

    def __call__(self, observation: GuidanceObservation) -> GuidanceProposal: ...


def _wrap(angle: float) -> float:
    """``angle`` (rad) in [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


class FollowTargetGuidance:
    """Advance toward the target with a P law on the remaining distance, capped; steer the
    rotation axis toward it with a P law on the heading error, capped.

    ``advance`` (mm/s) = min(``gain_per_s`` x distance (mm), ``max_advance_mm_s``), 0 within
    ``arrive_mm`` of the target (never backwards: a catheter is pulled back by a person).
    ``rotate`` (rad/s) = clip(``rotate_gain_per_s`` x heading error (rad),
    +-``max_rotate_rad_s``), where the heading is the direction the tip last moved (over at
    least ``heading_step_px``) and the error is the angle from it to the target, positive
    counter-clockwise as seen in the image (rows grow downward); 0 until a heading is known.
    The caps sit below the gate's rate limits, so the gate's clip is a safety net, not the law.
    """

    name: str = "follow-target"
    ADVANCE: Final = "advance"
    ROTATE: Final = "rotate"

    def __init__(
        self,
        *,
        gain_per_s: float = 0.5,
        max_advance_mm_s: float = 5.0,
        arrive_mm: float = 1.0,
        rotate_gain_per_s: float = 0.5,
        max_rotate_rad_s: float = 0.5,
        heading_step_px: float = 2.0,
    ) -> None:
        values = {
            "gain_per_s": gain_per_s,
            "max_advance_mm_s": max_advance_mm_s,
            "arrive_mm": arrive_mm,
            "rotate_gain_per_s": rotate_gain_per_s,
            "max_rotate_rad_s": max_rotate_rad_s,
            "heading_step_px": heading_step_px,
        }
        for key, value in values.items():
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{key} must be >= 0 and finite (got {value!r})")
        self.gain_per_s, self.max_advance_mm_s = gain_per_s, max_advance_mm_s
        self.arrive_mm = arrive_mm
        self.rotate_gain_per_s, self.max_rotate_rad_s = rotate_gain_per_s, max_rotate_rad_s
        self.heading_step_px = heading_step_px
        self._anchor: Point | None = None
        """Where the tip was when the heading was last measured (px)."""
        self._heading: float | None = None
        """Direction of the tip's last motion (rad, image x right, y up)."""

    def __call__(self, observation: GuidanceObservation) -> GuidanceProposal:
        tip, target = observation.tip_px, observation.target_px
        if tip is None or not all(math.isfinite(v) for v in tip):
            return GuidanceProposal({}, None, "no_tip")
        self._update_heading(tip)
        if target is None or not all(math.isfinite(v) for v in target):
            return GuidanceProposal({}, None, "no_target")
        spacing = observation.spacing_mm
        if spacing is None:
            return GuidanceProposal({}, None, "no_spacing")
        dx_mm = (target[0] - tip[0]) * spacing[1]
        dy_mm = (target[1] - tip[1]) * spacing[0]
        distance = math.hypot(dx_mm, dy_mm)
        if distance <= self.arrive_mm:
            return GuidanceProposal({self.ADVANCE: 0.0, self.ROTATE: 0.0}, distance, "arrived")
        advance = min(self.gain_per_s * distance, self.max_advance_mm_s)
        rotate = 0.0
        if self._heading is not None:
            bearing = math.atan2(tip[1] - target[1], target[0] - tip[0])  # px, y up
            error = _wrap(bearing - self._heading)
            cap = self.max_rotate_rad_s
            rotate = max(-cap, min(cap, self.rotate_gain_per_s * error))
        return GuidanceProposal({self.ADVANCE: advance, self.ROTATE: rotate}, distance, "following")

    def _update_heading(self, tip: Point) -> None:
        if self._anchor is None:
            self._anchor = tip
            return
        dx, dy = tip[0] - self._anchor[0], tip[1] - self._anchor[1]
        if math.hypot(dx, dy) >= max(self.heading_step_px, 1e-9):
            self._heading = math.atan2(-dy, dx)
            self._anchor = tip
