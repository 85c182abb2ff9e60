"""Pure checks of the safety gate: command validity, speed and acceleration clipping, workspace.

Velocities are unit/s of each axis, positions its unit, ``dt_s`` and ``lookahead_s`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypeGuard

from ._gate_settings import AxisLimits
from ._gate_types import AxisClip, GateCommand, GateReason, GateReasonCode


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def is_int(value: object) -> TypeGuard[int]:
    """True for an ``int`` that is not a ``bool``."""
    return not isinstance(value, bool) and isinstance(value, int)


def _mapping_problem(
    values: object, axes: Sequence[AxisLimits], what: str, complete: bool
) -> GateReason | None:
    bad = GateReasonCode.BAD_COMMAND
    if not isinstance(values, Mapping):
        return GateReason(bad, f"{what} is not a mapping of axis name to number")
    names = {axis.name for axis in axes}
    for name, value in values.items():
        if name not in names:
            return GateReason(bad, f"{what} names unknown axis {str(name)[:40]!r}")
        if not _is_number(value):
            return GateReason(bad, f"{what} of axis {name} is not a number")
        if not math.isfinite(value):
            return GateReason(GateReasonCode.NOT_FINITE, f"{what} of axis {name} is {value!r}")
    if complete:
        for axis in axes:
            if axis.name not in values:
                return GateReason(bad, f"{what} of axis {axis.name} is missing")
    return None


def command_problem(command: object, axes: Sequence[AxisLimits]) -> GateReason | None:
    """Why ``command`` cannot be judged at all (``bad_command``, ``not_finite``), or None."""
    bad = GateReasonCode.BAD_COMMAND
    if not isinstance(command, GateCommand):
        return GateReason(bad, f"not a GateCommand but {type(command).__name__}")
    if not (is_int(command.frame_seq) and is_int(command.t_capture_ns)):
        return GateReason(bad, "frame_seq and t_capture_ns must be integers")
    if not _is_number(command.confidence):
        return GateReason(bad, "confidence is not a number")
    if not math.isfinite(command.confidence):
        return GateReason(GateReasonCode.NOT_FINITE, f"confidence is {command.confidence!r}")
    if not 0.0 <= command.confidence <= 1.0:
        return GateReason(bad, f"confidence {command.confidence:g} is outside 0-1")
    return _mapping_problem(command.velocity, axes, "velocity", complete=False) or (
        _mapping_problem(command.position, axes, "position", complete=True)
    )


def accel_bounds(axis: AxisLimits, previous: float, dt_s: float) -> tuple[float, float]:
    """The velocities (unit/s) ``axis`` may take ``dt_s`` after ``previous``: speed may grow by
    ``max_accel * dt_s``; slowing towards zero is never limited, so 0 is always inside."""
    step = axis.max_accel * dt_s
    return min(previous, 0.0) - step, max(previous, 0.0) + step


def clip_velocity(
    requested: Mapping[str, float],
    previous: Mapping[str, float],
    dt_s: float,
    axes: Sequence[AxisLimits],
) -> tuple[dict[str, float], tuple[AxisClip, ...]]:
    """Each axis' requested velocity (0 if left out) clipped to ``±max_rate`` and then to
    :func:`accel_bounds` around its ``previous`` velocity; returns the allowed velocities and
    one :class:`AxisClip` per axis a limit changed (the limit that bound last)."""
    allowed: dict[str, float] = {}
    clips: list[AxisClip] = []
    for axis in axes:
        want = float(requested.get(axis.name, 0.0))
        value = min(max(want, -axis.max_rate), axis.max_rate)
        limit: str | None = "rate" if value != want else None
        low, high = accel_bounds(axis, previous[axis.name], dt_s)
        if value > high or value < low:
            value = min(max(value, low), high)
            limit = "accel"
        allowed[axis.name] = value + 0.0  # no -0.0 in JSON
        if limit == "rate":
            clips.append(AxisClip(axis.name, "rate", want, allowed[axis.name]))
        elif limit == "accel":
            clips.append(AxisClip(axis.name, "accel", want, allowed[axis.name]))
    return allowed, tuple(clips)


def workspace_breach(position: Mapping[str, float], axes: Sequence[AxisLimits]) -> str | None:
    """Text naming the first axis whose ``position`` is outside its workspace, or None."""
    for axis in axes:
        value = position[axis.name]
        if not axis.min_position <= value <= axis.max_position:
            return (
                f"axis {axis.name} at {value:g} {axis.unit} is outside the workspace "
                f"[{axis.min_position:g}, {axis.max_position:g}] {axis.unit}"
            )
    return None


def next_position(position: float, velocity: float, lookahead_s: float) -> float:
    """Where an axis at ``position`` moving at ``velocity`` is ``lookahead_s`` later."""
    return position + velocity * lookahead_s


def workspace_exit(
    position: Mapping[str, float],
    velocity: Mapping[str, float],
    lookahead_s: float,
    axes: Sequence[AxisLimits],
) -> str | None:
    """Text naming the first axis whose :func:`next_position` leaves its workspace, or None."""
    for axis in axes:
        target = next_position(position[axis.name], velocity[axis.name], lookahead_s)
        if not axis.min_position <= target <= axis.max_position:
            return (
                f"axis {axis.name} would reach {target:g} {axis.unit} within "
                f"{lookahead_s * 1000:g} ms, outside [{axis.min_position:g}, "
                f"{axis.max_position:g}] {axis.unit}"
            )
    return None
