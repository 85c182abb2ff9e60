"""The safety gate between any policy or scripted guidance and a robot (docs/safety-gate.md).

The gate has no clock of its own: every call takes ``now_ns``, the caller's time on the clock
of the frames' capture times (ns since the Unix epoch, e.g. ``time.time_ns()``). Time inside
the gate never runs backwards: a call earlier than one already seen is a fault and is judged
at the latest time seen.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from types import MappingProxyType

from ._gate_limits import (
    clip_velocity,
    command_problem,
    is_int,
    workspace_breach,
    workspace_exit,
)
from ._gate_settings import GateSettings, load_gate_settings
from ._gate_types import (
    AxisClip,
    GateCommand,
    GateDecision,
    GateEvent,
    GateReason,
    GateReasonCode,
    GateState,
    GateTransition,
)

_LOG = logging.getLogger("orstream.policies.gate")
_MS = 1_000_000

GateSubscriber = Callable[[GateTransition], None]
"""Called with every transition, on the calling thread, under the gate's lock: keep it short."""

R = GateReasonCode


class SafetyGate:
    """Judges every command before a robot gets it: watchdog on the source frame's capture
    time, republished-frame rejection, speed, acceleration and workspace limits, confidence and
    finite-value checks, an operator deadman, and a latched STOP.

    Starts in HOLD. ``submit`` judges a command; ``tick`` (run at the caller's heartbeat rate)
    lets a stalled source or an expired enable give HOLD with no command; ``enable`` (an
    operator's press: arms the gate), ``keepalive`` (extends a live enable, never arms),
    ``release``, ``stop`` (emergency stop, latched) and ``reset`` (STOP -> HOLD) are the
    operator's. Every call returns a :class:`GateDecision`; each transition is logged on
    ``orstream.policies.gate`` and passed to the subscribers. Thread-safe.
    """

    def __init__(self, settings: GateSettings | None = None) -> None:
        self._settings = settings if settings is not None else load_gate_settings()
        axes = self._settings.axes
        self._units = MappingProxyType({axis.name: axis.rate_unit for axis in axes})
        self._zero = MappingProxyType(dict.fromkeys(self._units, 0.0))
        self._max_age_ns = round(self._settings.max_frame_age_ms * _MS)
        self._skew_ns = round(self._settings.max_clock_skew_ms * _MS)
        self._ttl_ns = round(self._settings.deadman_ttl_ms * _MS)
        self._window_ns = round(self._settings.fault_window_ms * _MS)
        self._lookahead_s = self._settings.workspace_lookahead_ms / 1000.0
        self._lock = threading.RLock()
        self._subscribers: list[GateSubscriber] = []
        self._state = GateState.HOLD
        self._reason = GateReason(R.STARTUP, "the gate starts in HOLD: an enable is needed")
        self._now: int | None = None
        """Latest gate time seen, ns."""
        self._velocity: MappingProxyType[str, float] = self._zero
        """The velocity in force (zero unless ACTIVE), unit/s."""
        self._frame: tuple[int, int] | None = None
        """(seq, capture ns) of the command in force."""
        self._deadman_until: int | None = None
        self._armed = False
        self._seq_mark: int | None = None
        self._capture_mark: int | None = None
        self._last_command_ns: int | None = None
        self._faults: deque[int] = deque()
        self._pending: list[GateTransition] = []

    @property
    def settings(self) -> GateSettings:
        return self._settings

    @property
    def state(self) -> GateState:
        return self._state

    @property
    def reason(self) -> GateReason:
        """The reason of the latest decision."""
        return self._reason

    def subscribe(self, callback: GateSubscriber) -> Callable[[], None]:
        """Call ``callback`` with every transition from now on; returns the unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # -- calls -------------------------------------------------------------------------------

    def submit(self, command: GateCommand, now_ns: int) -> GateDecision:
        """Judge ``command`` at gate time ``now_ns``; the decision's velocity is what the robot
        may get (zero unless ACTIVE)."""
        with self._lock:
            now, clock_fault = self._begin(now_ns)
            tripped = self._reason if self._pending else None
            previous_ns, self._last_command_ns = self._last_command_ns, now
            seq: object = getattr(command, "frame_seq", None)
            t_capture: object = getattr(command, "t_capture_ns", None)
            frame = (seq, t_capture) if is_int(seq) and is_int(t_capture) else None
            clips: tuple[AxisClip, ...] = ()
            if self._state is GateState.STOP:
                reason = self._reason
            elif clock_fault is not None:
                reason = clock_fault
            else:
                dt_ns = 0 if previous_ns is None else min(now - previous_ns, self._max_age_ns)
                reason, clips = self._judge(command, now, frame, dt_ns)
                if tripped is not None and reason.code in (R.NOT_ENABLED, R.ENABLE_NEEDED):
                    reason = tripped  # the watchdog's HOLD says more than "press enable"
            return self._finish(now, "command", reason, frame, clips)

    def tick(self, now_ns: int) -> GateDecision:
        """The heartbeat: a stalled source (no fresh frame for longer than
        ``max_frame_age_ms``) or an expired enable gives HOLD here, with no command."""
        with self._lock:
            now, reason = self._begin(now_ns)
            return self._finish(now, "tick", reason or self._reason, self._frame)

    def enable(self, now_ns: int, ttl_ms: float | None = None) -> GateDecision:
        """An operator's enable (a press): live for ``ttl_ms`` (at most, and by default,
        ``deadman_ttl_ms``), and arms the gate, so that the next command that passes every
        check makes it ACTIVE. Refused in STOP; a bad ``ttl_ms`` counts as a release."""
        with self._lock:
            now, reason = self._begin(now_ns)
            if reason is None and self._state is GateState.STOP:
                reason = self._reason
            elif reason is None:
                ttl_ns = self._ttl(ttl_ms)
                if ttl_ns is None:
                    reason = self._release(now, f"enable with a bad time to live {ttl_ms!r} ms")
                else:
                    self._deadman_until = now + ttl_ns
                    self._armed = True
                    reason = GateReason(
                        R.ENABLED, f"operator enable, live for {ttl_ns / _MS:g} ms"
                        + ("" if self._state is GateState.ACTIVE else
                           ": the next command that passes every check resumes")
                    )  # fmt: skip
            return self._finish(now, "enable", reason, self._frame)

    def keepalive(self, now_ns: int, ttl_ms: float | None = None) -> GateDecision:
        """Extend a live enable to ``now_ns + ttl_ms``; never arms the gate (after a HOLD the
        operator must press enable again) and never revives an expired enable."""
        with self._lock:
            now, reason = self._begin(now_ns)
            if reason is None and self._state is GateState.STOP:
                reason = self._reason
            elif reason is None:
                ttl_ns = self._ttl(ttl_ms)
                if ttl_ns is None:
                    reason = self._release(now, f"keep-alive with a bad time to live {ttl_ms!r} ms")
                elif not self._live(now):
                    reason = GateReason(R.NOT_ENABLED, "keep-alive without a live enable: press")
                else:
                    self._deadman_until = max(self._deadman_until or now, now + ttl_ns)
                    reason = self._reason
            return self._finish(now, "keepalive", reason, self._frame)

    def release(self, now_ns: int) -> GateDecision:
        """The operator lets go: the enable ends; ACTIVE gives HOLD (not counted as a fault)."""
        with self._lock:
            now, _ = self._begin(now_ns)
            if self._state is GateState.STOP:
                self._deadman_until, self._armed = None, False
                reason = self._reason
            else:
                reason = self._release(now, "operator released the enable")
            return self._finish(now, "release", reason, self._frame)

    def stop(self, now_ns: int) -> GateDecision:
        """Emergency stop: STOP from any state, latched until :meth:`reset`."""
        with self._lock:
            now, _ = self._begin(now_ns)
            if self._state is not GateState.STOP:
                self._move(now, GateState.STOP, GateReason(R.EMERGENCY_STOP, "emergency stop"))
            return self._finish(now, "stop", self._reason, None)

    def reset(self, now_ns: int) -> GateDecision:
        """The operator's reset: STOP (or any state) gives HOLD; clears the fault count, the
        enable and the frame-sequence watermark (a restarted source counts from 0 again; the
        capture-time watermark stays, so no old frame passes)."""
        with self._lock:
            now, _ = self._begin(now_ns)
            reason = GateReason(R.RESET, "operator reset: an enable is needed")
            self._move(now, GateState.HOLD, reason)
            self._reason = reason
            self._faults.clear()
            self._seq_mark = None
            self._deadman_until, self._armed = None, False
            return self._finish(now, "reset", reason, None)

    # -- the rules ---------------------------------------------------------------------------

    def _judge(
        self,
        command: GateCommand,
        now: int,
        frame: tuple[int, int] | None,
        dt_ns: int,
    ) -> tuple[GateReason, tuple[AxisClip, ...]]:
        """Check ``command`` in HOLD or ACTIVE; pass it (ACTIVE) or refuse it (zero)."""
        problem = command_problem(command, self._settings.axes)
        if problem is not None:
            return self._fault(now, problem, frame), ()
        breach = workspace_breach(command.position, self._settings.axes)
        if breach is not None:
            self._move(now, GateState.STOP, GateReason(R.WORKSPACE_BREACH, breach), frame)
            return self._reason, ()
        seq, t_capture = command.frame_seq, command.t_capture_ns
        age = now - t_capture
        if age > self._max_age_ns:
            limit_ms = self._settings.max_frame_age_ms
            text = f"frame {seq} is {age / _MS:g} ms old (limit {limit_ms:g} ms)"
            return self._fault(now, GateReason(R.FRAME_STALE, text), frame), ()
        if age < -self._skew_ns:
            text = f"frame {seq} is stamped {-age / _MS:g} ms in the gate's future"
            return self._fault(now, GateReason(R.FRAME_FUTURE, text), frame), ()
        old = self._refused_frame(seq, t_capture)
        if old is not None:
            return self._fault(now, GateReason(R.FRAME_REPEATED, old), frame), ()
        if command.confidence < self._settings.min_confidence:
            text = f"confidence {command.confidence:g} < {self._settings.min_confidence:g}"
            return self._fault(now, GateReason(R.LOW_CONFIDENCE, text), frame), ()
        if not self._live(now):
            return GateReason(R.NOT_ENABLED, "no live operator enable"), ()
        if not self._armed:
            return GateReason(R.ENABLE_NEEDED, "the enable predates the HOLD: press again"), ()
        allowed, clips = clip_velocity(
            command.velocity, self._velocity, dt_ns / 1e9, self._settings.axes
        )
        leaving = workspace_exit(command.position, allowed, self._lookahead_s, self._settings.axes)
        if leaving is not None:
            return self._fault(now, GateReason(R.WORKSPACE_EXIT, leaving), frame), ()
        self._seq_mark, self._capture_mark = seq, t_capture
        reason = GateReason(R.OK, "command passed")
        if self._state is GateState.HOLD:
            reason = GateReason(R.RESUMED, "enabled and a fresh command passed every check")
            self._move(now, GateState.ACTIVE, reason, frame)
        self._velocity = MappingProxyType(allowed)
        self._frame = frame
        return reason, clips

    def _refused_frame(self, seq: int, t_capture: int) -> str | None:
        if self._capture_mark is not None and t_capture <= self._capture_mark:
            return f"frame captured at {t_capture} ns is not newer than one already passed"
        if self._seq_mark is not None and seq <= self._seq_mark:
            return f"frame seq {seq} is not newer than {self._seq_mark}, already passed"
        return None

    def _begin(self, now_ns: int) -> tuple[int, GateReason | None]:
        """Start a call: the gate time (never backwards), then the watchdog. Returns the time
        and the fault of a clock that went backwards (None when it did not)."""
        self._pending = []
        if self._now is not None and now_ns < self._now:
            text = f"time {now_ns} ns is {(self._now - now_ns) / _MS:g} ms before one seen"
            return self._now, self._fault(self._now, GateReason(R.CLOCK_BACKWARDS, text), None)
        self._now = now = int(now_ns)
        if self._state is GateState.ACTIVE:
            if not self._live(now):
                self._fault(now, GateReason(R.DEADMAN_EXPIRED, "the operator enable expired"))
            elif self._capture_mark is not None and now - self._capture_mark > self._max_age_ns:
                limit, gap = self._settings.max_frame_age_ms, now - self._capture_mark
                text = f"no fresh frame for {gap / _MS:g} ms (limit {limit:g} ms)"
                self._fault(now, GateReason(R.FRAME_STALE, text), self._frame)
        return now, None

    def _fault(
        self, now: int, reason: GateReason, frame: tuple[int, int] | None = None
    ) -> GateReason:
        """A fault: disarms; ACTIVE gives HOLD, or STOP if it is the ``stop_after_faults``-th
        trip within ``fault_window_ms``. Returns the reason."""
        self._armed = False
        if self._state is GateState.ACTIVE:
            self._faults.append(now)
            while self._faults[0] < now - self._window_ns:
                self._faults.popleft()
            count = len(self._faults)
            if count >= self._settings.stop_after_faults:
                window = self._settings.fault_window_ms / 1000.0
                text = f"{count} faults within {window:g} s; last: {reason.code}: {reason.text}"
                self._move(now, GateState.STOP, GateReason(R.REPEATED_FAULTS, text), frame)
                return self._reason
            self._move(now, GateState.HOLD, reason, frame)
        return reason

    def _release(self, now: int, text: str) -> GateReason:
        self._deadman_until, self._armed = None, False
        reason = GateReason(R.DEADMAN_RELEASED, text)
        self._move(now, GateState.HOLD, reason, self._frame)
        return reason

    def _move(
        self,
        now: int,
        state: GateState,
        reason: GateReason,
        frame: tuple[int, int] | None = None,
    ) -> None:
        """Change state (no-op if already there): log it and queue it for the subscribers."""
        if state is self._state:
            return
        previous, self._state, self._reason = self._state, state, reason
        if state is not GateState.ACTIVE:
            self._velocity, self._frame, self._armed = self._zero, None, False
        seq, t_capture = frame if frame is not None else (None, None)
        self._pending.append(GateTransition(now, previous, state, reason, seq, t_capture))
        level = logging.INFO if state is GateState.ACTIVE else logging.WARNING
        _LOG.log(level, "safety gate %s -> %s: %s (%s) [frame seq %s]",
                 previous.value, state.value, reason.code.value, reason.text, seq)  # fmt: skip

    def _finish(
        self,
        now: int,
        event: GateEvent,
        reason: GateReason,
        frame: tuple[int, int] | None,
        clips: tuple[AxisClip, ...] = (),
    ) -> GateDecision:
        """The decision of a call; hands its transitions to the subscribers."""
        self._reason = reason
        active = self._state is GateState.ACTIVE
        seq, t_capture = frame if frame is not None else (None, None)
        transitions, self._pending = tuple(self._pending), []
        decision = GateDecision(
            state=self._state,
            reason=reason,
            t_ns=now,
            event=event,
            velocity=self._velocity if active else self._zero,
            units=self._units,
            clipped=clips if active else (),
            frame_seq=seq,
            t_capture_ns=t_capture,
            transitions=transitions,
        )
        for transition in transitions:
            for callback in list(self._subscribers):
                try:
                    callback(transition)
                except Exception:
                    _LOG.exception("safety gate subscriber %r failed", callback)
        return decision

    def _live(self, now: int) -> bool:
        return self._deadman_until is not None and now <= self._deadman_until

    def _ttl(self, ttl_ms: float | None) -> int | None:
        """The time to live in ns (at most ``deadman_ttl_ms``), or None if ``ttl_ms`` is bad."""
        if ttl_ms is None:
            return self._ttl_ns
        if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int | float):
            return None
        if not ttl_ms > 0:  # also NaN
            return None
        return min(self._ttl_ns, round(min(float(ttl_ms), 1e12) * _MS))
