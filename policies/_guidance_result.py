"""What the guided gate says about one frame (``frame.results["guidance"]``) and the fields of
the robot feed's messages (docs/robot-feed.md), with units in every key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._gate_types import GateReason, GateState, GateTransition
from ._guidance import GuidanceNote, Point

POSITION_DIGITS = 4
"""Decimals of positions in JSON (0.1 um, 0.1 mrad)."""


def unit_key(axis: str, unit: str) -> str:
    """The feed key of ``axis`` in ``unit``: ``advance``, ``mm/s`` -> ``advance_mm_s``."""
    return f"{axis}_{unit.replace('/', '_')}"


def keyed(
    values: Mapping[str, float], units: Mapping[str, str], digits: int | None = None
) -> dict[str, float | None]:
    """``values`` per axis, keyed with units (:func:`unit_key`), rounded to ``digits`` (None:
    as they are); non-finite values are None."""
    return {
        unit_key(axis, units.get(axis, "")): (
            None if not math.isfinite(value) else value if digits is None else round(value, digits)
        )
        for axis, value in values.items()
    }


def _number(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def target_json(target_px: Point | None) -> dict[str, float | None] | None:
    if target_px is None:
        return None
    return {"x_px": _number(target_px[0], 2), "y_px": _number(target_px[1], 2)}


@dataclass(frozen=True, slots=True)
class GuidanceResult:
    """One frame through guidance and the gate: the gate's ``state`` and ``reason`` after it;
    ``command``: what the robot may do (axis -> unit/s, zero unless ACTIVE) and ``requested``:
    what guidance asked for, both in ``units`` per axis; ``note``: what guidance said;
    ``target_px`` (x, y; None without a target), ``distance_to_target_mm`` (None when not
    measurable), the perception's ``confidence`` (0-1), the source frame's ``frame_seq`` and
    ``frame_t_capture_ns``, and the robot's ``position`` the gate judged (axis' unit)."""

    frame_seq: int
    frame_t_capture_ns: int
    state: GateState
    reason: GateReason
    note: GuidanceNote | str
    command: Mapping[str, float]
    requested: Mapping[str, float]
    units: Mapping[str, str]
    target_px: Point | None
    distance_to_target_mm: float | None
    confidence: float
    position: Mapping[str, float]

    @property
    def active(self) -> bool:
        return self.state is GateState.ACTIVE

    def to_json(self) -> dict[str, Any]:
        """The per-frame result, and the fields of the feed's ``command`` message."""
        position_units = {axis: unit.removesuffix("/s") for axis, unit in self.units.items()}
        return {
            "frame_seq": self.frame_seq,
            "frame_t_capture_ns": self.frame_t_capture_ns,
            "state": self.state.value,
            "reason": self.reason.to_json(),
            "guidance": self.note,
            "command": keyed(self.command, self.units),
            "requested": keyed(self.requested, self.units),
            "target": target_json(self.target_px),
            "distance_to_target_mm": _number(self.distance_to_target_mm, 3),
            "confidence": _number(self.confidence, 3),
            "position": keyed(self.position, position_units, POSITION_DIGITS),
        }


def transition_fields(transition: GateTransition) -> dict[str, Any]:
    """The fields of the feed's ``transition`` message for a gate transition."""
    return {
        "frame_seq": transition.frame_seq,
        "frame_t_capture_ns": transition.t_capture_ns,
        "previous": transition.previous.value,
        "state": transition.state.value,
        "reason": transition.reason.to_json(),
        "gate_t_ns": transition.t_ns,
    }
