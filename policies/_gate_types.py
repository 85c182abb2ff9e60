"""What goes into and out of the safety gate: states, reasons, commands, transitions, decisions.

Times are ns on the clock of the frames' capture times (ns since the Unix epoch, as
:attr:`orstream.stream.Frame.t_capture_ns`); velocities are in the unit/s of their axis
(mm/s or rad/s, declared in the settings), positions in the axis' unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..stream import Frame

GateEvent = Literal["command", "tick", "enable", "keepalive", "release", "stop", "reset"]
"""The call that made a decision."""


class GateState(StrEnum):
    """ACTIVE passes commands (within limits); HOLD and STOP send zero velocities. HOLD is left
    only through an operator enable; STOP only through an operator reset (to HOLD)."""

    ACTIVE = "ACTIVE"
    HOLD = "HOLD"
    STOP = "STOP"


class GateReasonCode(StrEnum):
    """Machine-readable reason codes (docs/safety-gate.md, "Reasons")."""

    OK = "ok"
    RESUMED = "resumed"
    STARTUP = "startup"
    ENABLED = "enabled"
    NOT_ENABLED = "not_enabled"
    ENABLE_NEEDED = "enable_needed"
    DEADMAN_RELEASED = "deadman_released"
    DEADMAN_EXPIRED = "deadman_expired"
    FRAME_STALE = "frame_stale"
    FRAME_REPEATED = "frame_repeated"
    FRAME_FUTURE = "frame_future"
    LOW_CONFIDENCE = "low_confidence"
    NOT_FINITE = "not_finite"
    BAD_COMMAND = "bad_command"
    WORKSPACE_EXIT = "workspace_exit"
    CLOCK_BACKWARDS = "clock_backwards"
    EMERGENCY_STOP = "emergency_stop"
    WORKSPACE_BREACH = "workspace_breach"
    REPEATED_FAULTS = "repeated_faults"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class GateReason:
    """Why the gate decided as it did: a ``code`` plus one line of ``text`` for people (no
    patient identifiers: numbers, axis names and settings keys only)."""

    code: GateReasonCode
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "text": self.text}


@dataclass(frozen=True, slots=True)
class GateCommand:
    """A velocity command derived from one source frame.

    ``frame_seq`` and ``t_capture_ns``: the source frame's sequence number and capture time
    (ns since the epoch, the device's clock). ``confidence``: the perception's, 0-1.
    ``velocity``: axis name -> velocity (unit/s of the axis); axes left out are 0.
    ``position``: axis name -> where the robot is (the axis' unit), every axis of the settings.
    """

    frame_seq: int
    t_capture_ns: int
    confidence: float
    velocity: Mapping[str, float]
    position: Mapping[str, float]

    @classmethod
    def from_frame(
        cls,
        frame: Frame,
        *,
        confidence: float,
        velocity: Mapping[str, float],
        position: Mapping[str, float],
    ) -> GateCommand:
        """The command for ``frame`` (its ``seq`` and ``t_capture_ns``)."""
        return cls(frame.seq, frame.t_capture_ns, confidence, velocity, position)


@dataclass(frozen=True, slots=True)
class AxisClip:
    """A limit the gate applied to one axis: ``limit`` ``"rate"`` (speed) or ``"accel"``
    (the one that bound last), the ``requested`` and the ``allowed`` velocity (unit/s)."""

    axis: str
    limit: Literal["rate", "accel"]
    requested: float
    allowed: float

    def to_json(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "limit": self.limit,
            "requested": self.requested,
            "allowed": self.allowed,
        }


def _frame_json(seq: int | None, t_capture_ns: int | None) -> dict[str, Any] | None:
    if seq is None or t_capture_ns is None:
        return None
    return {"seq": seq, "t_capture_ns": t_capture_ns}


@dataclass(frozen=True, slots=True)
class GateTransition:
    """A change of state at gate time ``t_ns``, from ``previous`` to ``state``, with the
    ``reason`` and the source frame involved (None when no frame was)."""

    t_ns: int
    previous: GateState
    state: GateState
    reason: GateReason
    frame_seq: int | None = None
    t_capture_ns: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "t_ns": self.t_ns,
            "previous": self.previous.value,
            "state": self.state.value,
            "reason": self.reason.to_json(),
            "frame": _frame_json(self.frame_seq, self.t_capture_ns),
        }


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's answer to one call: the ``state`` after it, the ``reason``, gate time
    ``t_ns``, the ``event`` (call) that made it, the ``velocity`` allowed per axis (unit/s,
    ``units`` per axis; all zero unless ACTIVE), the limits applied (``clipped``), the source
    frame (``frame_seq``, ``t_capture_ns``: of the command judged, or of the command in force
    on a tick) and the ``transitions`` the call made, in order."""

    state: GateState
    reason: GateReason
    t_ns: int
    event: GateEvent
    velocity: Mapping[str, float]
    units: Mapping[str, str]
    clipped: tuple[AxisClip, ...] = ()
    frame_seq: int | None = None
    t_capture_ns: int | None = None
    transitions: tuple[GateTransition, ...] = ()

    @property
    def moving(self) -> bool:
        """True if any allowed velocity is non-zero."""
        return any(value != 0.0 for value in self.velocity.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason.to_json(),
            "t_ns": self.t_ns,
            "event": self.event,
            "velocity": dict(self.velocity),
            "units": dict(self.units),
            "clipped": [clip.to_json() for clip in self.clipped],
            "frame": _frame_json(self.frame_seq, self.t_capture_ns),
            "transitions": [transition.to_json() for transition in self.transitions],
        }
