"""The guided gate: guidance proposes, the safety gate decides, for every frame and every
heartbeat, and an operator (or a simulated pedal) holds the deadman (docs/robot-feed.md).

:class:`GuidanceLoop` has no transport and no thread: the pipeline calls :meth:`step` per
frame, the feed's heartbeat thread :meth:`heartbeat`, the control socket :meth:`control`. It
keeps the robot's position as reported (:meth:`report_position`) or, with no report, as the
velocities the gate allowed add up to (dead reckoning from ``start_position``).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..stream import DropCounter
from ._gate import SafetyGate
from ._gate_types import GateCommand, GateDecision, GateState
from ._guidance import FollowTargetGuidance, Guidance, GuidanceObservation, GuidanceProposal
from ._guidance_result import POSITION_DIGITS, GuidanceResult, keyed, target_json

LOCK_SKEW_NS = 100_000_000
"""A time read before waiting for the lock (and the interpreter) may be this much (ns) older
than one already used by another thread; such a time counts as that newer one, which only
makes every age the gate judges larger. Larger regressions reach the gate (clock stepped)."""
CONTROL_OPS = ("enable", "keepalive", "release", "stop", "reset", "status", "position")
"""What the control socket takes (``{"op": ...}``; docs/robot-feed.md, "Control")."""


class GuidanceLoop:
    """``guidance`` (default :class:`FollowTargetGuidance`) behind ``gate`` (default: the
    shipped settings). ``start_position``: the robot's position at start per axis (default: 0
    clamped into each axis' workspace). ``pedal``: a simulated operator who presses enable
    when the tracking first looks good (a frame whose confidence reaches the gate's
    ``min_confidence``, until the gate was once ACTIVE) and keeps the pedal down (a keep-alive
    at every heartbeat); after the first ACTIVE it never presses again, so any later HOLD
    takes a real press (:meth:`control` ``enable``), unless ``repress_after_ms`` is given:
    then it presses again once the tracking has looked good for that long in HOLD (as an
    operator watching the screen would; a latched STOP still takes a reset). ``represses``
    counts those presses. Thread-safe."""

    def __init__(
        self,
        gate: SafetyGate | None = None,
        guidance: Guidance | None = None,
        *,
        start_position: Mapping[str, float] | None = None,
        pedal: bool = False,
        repress_after_ms: float | None = None,
    ) -> None:
        if repress_after_ms is not None and not (0 <= repress_after_ms < math.inf):
            raise ValueError(f"repress_after_ms must be >= 0 and finite ({repress_after_ms!r})")
        self.gate = gate if gate is not None else SafetyGate()
        self._repress_ns = None if repress_after_ms is None else round(repress_after_ms * 1e6)
        self._good_since: int | None = None
        self._last_now: int | None = None
        self.represses = 0
        self.guidance: Guidance = guidance if guidance is not None else FollowTargetGuidance()
        self.pedal = pedal
        axes = self.gate.settings.axes
        self._units = {axis.name: axis.rate_unit for axis in axes}
        start = dict(start_position or {})
        unknown = set(start) - set(self._units)
        if unknown:
            raise ValueError(f"start_position names unknown axes {sorted(unknown)}")
        self._position = {
            axis.name: float(
                start.get(axis.name, min(max(0.0, axis.min_position), axis.max_position))
            )
            for axis in axes
        }
        self._velocity: dict[str, float] = dict.fromkeys(self._units, 0.0)
        self._position_t: int | None = None
        self._latest: GuidanceResult | None = None
        self._engaged = False
        """True once the gate was ACTIVE: the simulated pedal presses no more."""
        self._passed_capture: int | None = None
        """Capture time (ns) of the newest frame whose command the gate passed."""
        self._max_age_ns = round(self.gate.settings.max_frame_age_ms * 1e6)
        self._lock = threading.Lock()
        self.guidance_errors = DropCounter(f"guidance {self.guidance.name}")
        """Frames on which guidance raised, by exception type (logged, rate-limited)."""

    @property
    def units(self) -> Mapping[str, str]:
        """Velocity unit per axis (``mm/s``, ``rad/s``)."""
        return dict(self._units)

    @property
    def latest(self) -> GuidanceResult | None:
        """The result of the latest frame (None before the first)."""
        return self._latest

    def position(self) -> dict[str, float]:
        """Where the robot is believed to be, per axis (the axis' unit)."""
        with self._lock:
            return dict(self._position)

    def step(self, observation: GuidanceObservation, now_ns: int) -> GuidanceResult:
        """Guidance on one frame's ``observation`` (its ``position`` is filled in here), then
        the gate at ``now_ns``. A guidance that raises is counted in ``guidance_errors``
        (logged) and judged as a command with no finite velocity: the gate refuses it (HOLD,
        ``not_finite``)."""
        with self._lock:
            position = dict(self._position)
        seen = dataclasses.replace(observation, position=position)
        try:
            proposal = self.guidance(seen)
        except Exception as exc:
            self.guidance_errors.drop(type(exc).__name__, f"frame {seen.frame_seq}: {exc}")
            proposal = GuidanceProposal(dict.fromkeys(self._units, math.nan), None, "no_tip")
        trust = seen.confidence
        if proposal.confidence is not None:
            trust = min(trust, proposal.confidence)
        with self._lock:
            now_ns = self._in_order(now_ns)
            self._advance(now_ns)
            command = GateCommand(
                seen.frame_seq,
                seen.t_capture_ns,
                trust,
                proposal.velocity,
                dict(self._position),
            )
            confident = trust >= self.gate.settings.min_confidence
            if self.pedal and confident:
                self._press_if_due(now_ns)
            elif not confident:
                self._good_since = None
            decision = self.gate.submit(command, now_ns)
            if decision.state is GateState.ACTIVE:
                self._engaged, self._passed_capture = True, seen.t_capture_ns
            self._velocity = dict(decision.velocity)
            result = GuidanceResult(
                frame_seq=seen.frame_seq,
                frame_t_capture_ns=seen.t_capture_ns,
                state=decision.state,
                reason=decision.reason,
                note=proposal.note,
                command=dict(decision.velocity),
                requested={axis: float(proposal.velocity.get(axis, 0.0)) for axis in self._units},
                units=self._units,
                target_px=seen.target_px,
                distance_to_target_mm=proposal.distance_to_target_mm,
                confidence=trust,
                position=dict(self._position),
            )
            self._latest = result
            return result

    def _press_if_due(self, now_ns: int) -> None:
        """The simulated operator on a confident frame (under the lock): the first press, and
        with ``repress_after_ms`` a press after that long of good tracking in HOLD."""
        if not self._engaged:
            self.gate.enable(now_ns)
            return
        if self._repress_ns is None or self.gate.state is not GateState.HOLD:
            self._good_since = None
            return
        if self._good_since is None:
            self._good_since = now_ns
        if now_ns - self._good_since >= self._repress_ns:
            self.gate.enable(now_ns)
            self._good_since = None
            self.represses += 1

    def watchdog_due_ns(self) -> int | None:
        """While ACTIVE, the gate time (ns) at which no fresh frame gives HOLD (the newest
        passed frame's capture + ``max_frame_age_ms``, + 1 ns): a heartbeat due then publishes
        the HOLD without waiting for the fixed rate. None when not ACTIVE."""
        with self._lock:
            if self.gate.state is not GateState.ACTIVE or self._passed_capture is None:
                return None
            return self._passed_capture + self._max_age_ns + 1

    def heartbeat(self, now_ns: int) -> dict[str, Any]:
        """The heartbeat at ``now_ns``: the simulated pedal's keep-alive (with ``pedal``), the
        gate's tick (a stalled source or an expired enable gives HOLD here), and the fields of
        the feed's ``heartbeat`` message: the state, the command in force and its frame."""
        with self._lock:
            now_ns = self._in_order(now_ns)
            if self.pedal:
                self.gate.keepalive(now_ns)
            self._advance(now_ns)
            decision = self.gate.tick(now_ns)
            self._velocity = dict(decision.velocity)
            latest = self._latest
            return {
                "frame_seq": decision.frame_seq,
                "frame_t_capture_ns": decision.t_capture_ns,
                "state": decision.state.value,
                "reason": decision.reason.to_json(),
                "command": keyed(decision.velocity, self._units),
                "target": None if latest is None else target_json(latest.target_px),
                "confidence": None if latest is None else latest.to_json()["confidence"],
                "position": self._position_json(),
            }

    def report_position(self, position: Mapping[str, float], now_ns: int) -> None:
        """The robot's own report of where it is (every axis, finite): replaces the dead
        reckoning from ``now_ns`` on. ValueError for a bad report (nothing changes)."""
        values = {}
        for axis in self._units:
            value = position.get(axis)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"position.{axis} must be a number")
            if not math.isfinite(value):
                raise ValueError(f"position.{axis} must be finite")
            values[axis] = float(value)
        with self._lock:
            now_ns = self._in_order(now_ns)
            self._advance(now_ns)
            self._position.update(values)

    def control(self, request: Mapping[str, Any], now_ns: int) -> dict[str, Any]:
        """One operator request (docs/robot-feed.md, "Control"): ``{"op": "enable",
        "ttl_ms": 250}``, ``keepalive``, ``release``, ``stop``, ``reset``, ``status``, or
        ``{"op": "position", "position": {...}}``; the reply holds the gate's decision."""
        op = request.get("op")
        if op not in CONTROL_OPS:
            return {"ok": False, "error": f"op must be one of {', '.join(CONTROL_OPS)}"}
        ttl = request.get("ttl_ms")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
            return {"ok": False, "error": "ttl_ms must be a number"}
        calls: dict[str, Callable[[], GateDecision]] = {
            "enable": lambda: self.gate.enable(now_ns, ttl),
            "keepalive": lambda: self.gate.keepalive(now_ns, ttl),
            "release": lambda: self.gate.release(now_ns),
            "stop": lambda: self.gate.stop(now_ns),
            "reset": lambda: self.gate.reset(now_ns),
            "status": lambda: self.gate.tick(now_ns),
            "position": lambda: self.gate.tick(now_ns),
        }
        if op == "position":
            reported = request.get("position")
            if not isinstance(reported, dict):
                return {"ok": False, "error": "position must be an object of axis: value"}
            try:
                self.report_position(reported, now_ns)
            except ValueError as exc:
                return {"ok": False, "error": str(exc)}
        with self._lock:
            now_ns = self._in_order(now_ns)
            self._advance(now_ns)
            decision = calls[str(op)]()
            self._velocity = dict(decision.velocity)
        return {"ok": True, "decision": decision.to_json(), "position": self._position_json()}

    def _position_json(self) -> dict[str, float | None]:
        units = {axis: unit.removesuffix("/s") for axis, unit in self._units.items()}
        return keyed(self._position, units, POSITION_DIGITS)

    def _in_order(self, now_ns: int) -> int:
        """``now_ns``, or the newest time already used when ``now_ns`` is at most
        ``LOCK_SKEW_NS`` older (read before another thread took the lock; under the lock)."""
        last = self._last_now
        if last is not None and last - LOCK_SKEW_NS <= now_ns < last:
            return last
        self._last_now = now_ns if last is None else max(now_ns, last)
        return now_ns

    def _advance(self, now_ns: int) -> None:
        """Dead reckoning (under the lock): the velocity in force since the last call."""
        if self._position_t is not None and now_ns > self._position_t:
            dt_s = (now_ns - self._position_t) / 1e9
            for axis, velocity in self._velocity.items():
                self._position[axis] += velocity * dt_s
        if self._position_t is None or now_ns > self._position_t:
            self._position_t = now_ns
