"""The safety gate, one transition at a time (docs/safety-gate.md). The clock is the test's:
every call gets ``now_ns`` from the scenario, never from the wall."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from orstream.policies import (
    GateCommand,
    GateDecision,
    GateReasonCode,
    GateSettings,
    GateState,
    GateTransition,
    SafetyGate,
    load_gate_settings,
)

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
"""A gate time (ns since the epoch) to start scenarios at."""
HOME = {"advance": 100.0, "rotate": 0.0}
R = GateReasonCode
ACTIVE, HOLD, STOP = GateState.ACTIVE, GateState.HOLD, GateState.STOP


class Scenario:
    """A gate on a test clock: frames every ``period_ms``, captured ``latency_ms`` before their
    command reaches the gate."""

    def __init__(self, settings: GateSettings | None = None) -> None:
        self.gate = SafetyGate(settings or load_gate_settings())
        self.now = T0
        self.seq = 0
        self.transitions: list[GateTransition] = []
        self.gate.subscribe(self.transitions.append)

    def wait(self, ms: float) -> None:
        self.now += round(ms * MS)

    def command(
        self,
        velocity: dict[str, float] | None = None,
        *,
        age_ms: float = 20.0,
        confidence: float = 0.9,
        position: dict[str, float] | None = None,
        seq: int | None = None,
    ) -> GateDecision:
        self.seq = self.seq + 1 if seq is None else seq
        command = GateCommand(
            frame_seq=self.seq,
            t_capture_ns=self.now - round(age_ms * MS),
            confidence=confidence,
            velocity=velocity or {},
            position=HOME if position is None else position,
        )
        return self.gate.submit(command, self.now)

    def activate(self) -> GateDecision:
        """Enable and send one fresh command: ACTIVE."""
        self.gate.enable(self.now)
        self.wait(33)
        decision = self.command({"advance": 0.0})
        assert decision.state is ACTIVE, decision.reason
        return decision

    def run(self, velocity: dict[str, float], frames: int, period_ms: float = 33.0) -> None:
        """``frames`` commands, keeping the enable alive."""
        for _ in range(frames):
            self.wait(period_ms)
            self.gate.keepalive(self.now)
            decision = self.command(velocity)
            assert decision.state is ACTIVE, decision.reason


def test_the_gate_starts_in_hold_and_a_command_without_an_enable_stays_zero() -> None:
    s = Scenario()
    first = s.gate.tick(s.now)
    assert (first.state, first.reason.code) == (HOLD, R.STARTUP)
    decision = s.command({"advance": 5.0})
    assert (decision.state, decision.reason.code) == (HOLD, R.NOT_ENABLED)
    assert dict(decision.velocity) == {"advance": 0.0, "rotate": 0.0} and not decision.moving
    assert (decision.frame_seq, decision.t_capture_ns) == (1, s.now - 20 * MS)


def test_an_enable_and_a_fresh_command_make_it_active_within_the_acceleration_limit() -> None:
    s = Scenario()
    s.command({"advance": 5.0})
    s.wait(33)
    assert s.gate.enable(s.now).reason.code is R.ENABLED
    s.wait(33)
    decision = s.command({"advance": 5.0, "rotate": -1.0})
    assert (decision.state, decision.reason.code) == (ACTIVE, R.RESUMED)
    # from rest, 50 mm/s² and 5 rad/s² over the 66 ms since the previous command
    assert decision.velocity["advance"] == pytest.approx(50 * 0.066)
    assert decision.velocity["rotate"] == pytest.approx(-5 * 0.066)
    assert [(c.axis, c.limit) for c in decision.clipped] == [
        ("advance", "accel"),
        ("rotate", "accel"),
    ]
    (transition,) = decision.transitions
    assert (transition.previous, transition.state, transition.frame_seq) == (HOLD, ACTIVE, 2)
    assert s.transitions == [transition]


def test_speed_is_clipped_at_max_rate_and_slowing_down_is_never_limited() -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 25.0}, frames=10)
    s.wait(33)
    last = s.command({"advance": 25.0})
    assert last.velocity["advance"] == 10.0
    assert [(c.axis, c.limit, c.requested) for c in last.clipped] == [("advance", "rate", 25.0)]
    s.wait(33)
    stop = s.command({"advance": 0.0})
    assert stop.state is ACTIVE and stop.velocity["advance"] == 0.0 and not stop.clipped
    s.run({"advance": 10.0}, frames=10)
    s.wait(33)
    reverse = s.command({"advance": -10.0})  # from +10: down to 0, then at most 50 mm/s² back
    assert reverse.velocity["advance"] == pytest.approx(-50 * 0.033)


@pytest.mark.parametrize("age_ms, state", [(100.0, ACTIVE), (100.000001, HOLD)])
def test_a_frame_older_than_the_limit_is_refused(age_ms: float, state: GateState) -> None:
    s = Scenario()
    s.gate.enable(s.now)
    decision = s.command({"advance": 1.0}, age_ms=age_ms)
    assert decision.state is state
    assert state is ACTIVE or decision.reason.code is R.FRAME_STALE


def test_a_command_from_a_stale_frame_while_active_gives_hold() -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 1.0}, frames=3)
    s.wait(33)
    decision = s.command({"advance": 1.0}, age_ms=150.0)
    assert (decision.state, decision.reason.code, decision.moving) == (HOLD, R.FRAME_STALE, False)
    assert s.transitions[-1].reason.code is R.FRAME_STALE


def test_a_stalled_source_gives_hold_at_the_first_tick_after_the_limit() -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 2.0}, frames=3)
    captured = s.now - 20 * MS
    s.gate.keepalive(s.now)
    assert s.gate.tick(captured + 100 * MS).state is ACTIVE
    late = s.gate.tick(captured + 100 * MS + 1)
    assert (late.state, late.reason.code) == (HOLD, R.FRAME_STALE)
    assert not late.moving and late.transitions[0].frame_seq == s.seq


def test_a_tick_while_fresh_repeats_the_command_in_force_with_its_frame() -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 2.0}, frames=3)
    tick = s.gate.tick(s.now + 10 * MS)
    assert tick.state is ACTIVE and tick.event == "tick"
    assert tick.velocity["advance"] == 2.0
    assert tick.frame_seq == s.seq and tick.transitions == ()


def test_a_motionless_pose_with_fresh_frames_stays_active() -> None:
    """The same command and position from frame after frame: new frames, so fresh."""
    s = Scenario()
    s.activate()
    for _ in range(200):
        s.wait(33)
        s.gate.keepalive(s.now)
        assert s.command({"advance": 0.0}).state is ACTIVE
        assert s.gate.tick(s.now + 16 * MS).state is ACTIVE
    assert s.transitions[-1].state is ACTIVE


@pytest.mark.parametrize(
    "seq_step, capture_step_ms",
    [(0, 0.0), (-1, -33.0), (1, 0.0), (1, -1.0), (0, 33.0), (-5, 33.0)],
    ids=["same-frame", "older", "same-capture", "older-capture", "same-seq", "older-seq"],
)
def test_a_republished_or_older_frame_never_keeps_the_robot_moving(
    seq_step: int, capture_step_ms: float
) -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 3.0}, frames=3)
    passed_seq, passed_capture = s.seq, s.now - 20 * MS
    s.wait(33)
    command = GateCommand(passed_seq + seq_step, passed_capture + round(capture_step_ms * MS),
                          0.9, {"advance": 3.0}, HOME)  # fmt: skip
    decision = s.gate.submit(command, s.now)
    assert (decision.state, decision.reason.code) == (HOLD, R.FRAME_REPEATED)
    assert not decision.moving


def test_a_frame_from_the_future_beyond_the_clock_skew_gives_hold() -> None:
    s = Scenario()
    s.activate()
    s.wait(33)
    assert s.command({"advance": 1.0}, age_ms=-10.0).state is ACTIVE
    s.wait(33)
    decision = s.command({"advance": 1.0}, age_ms=-10.5)
    assert (decision.state, decision.reason.code) == (HOLD, R.FRAME_FUTURE)


@pytest.mark.parametrize("confidence, state", [(0.5, ACTIVE), (0.4999, HOLD)])
def test_confidence_below_the_threshold_gives_hold(confidence: float, state: GateState) -> None:
    s = Scenario()
    s.activate()
    s.wait(33)
    decision = s.command({"advance": 1.0}, confidence=confidence)
    assert decision.state is state
    assert state is ACTIVE or decision.reason.code is R.LOW_CONFIDENCE


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", ["velocity", "position", "confidence"])
def test_a_value_that_is_not_finite_anywhere_gives_hold(where: str, bad: float) -> None:
    s = Scenario()
    s.activate()
    s.wait(33)
    velocity = {"advance": bad} if where == "velocity" else {"advance": 1.0}
    position = {**HOME, "rotate": bad} if where == "position" else HOME
    confidence = bad if where == "confidence" else 0.9
    decision = s.command(velocity, position=position, confidence=confidence)
    assert (decision.state, decision.reason.code) == (HOLD, R.NOT_FINITE)
    assert all(math.isfinite(v) and v == 0.0 for v in decision.velocity.values())
    json.dumps(decision.to_json(), allow_nan=False)


@pytest.mark.parametrize(
    "change",
    [
        {"velocity": {"lateral": 1.0}},
        {"velocity": {"advance": "fast"}},
        {"velocity": {"advance": True}},
        {"position": {"advance": 100.0}},
        {"position": {**HOME, "tilt": 0.0}},
        {"velocity": [1.0, 2.0]},
        {"confidence": 1.5},
        {"frame_seq": 1.5},
        {"t_capture_ns": None},
    ],
    ids=lambda change: next(iter(change)) + "=" + repr(next(iter(change.values())))[:20],
)
def test_a_malformed_command_gives_hold(change: dict[str, Any]) -> None:
    s = Scenario()
    s.activate()
    s.wait(33)
    good = GateCommand(s.seq + 1, s.now - 20 * MS, 0.9, {"advance": 1.0}, HOME)
    decision = s.gate.submit(replace(good, **change), s.now)
    assert (decision.state, decision.reason.code) == (HOLD, R.BAD_COMMAND)
    assert not decision.moving


def test_something_that_is_no_command_at_all_gives_hold() -> None:
    s = Scenario()
    s.activate()
    decision = s.gate.submit({"advance": 1.0}, s.now)  # type: ignore[arg-type]
    assert (decision.state, decision.reason.code) == (HOLD, R.BAD_COMMAND)
    assert decision.frame_seq is None


def test_a_command_that_would_leave_the_workspace_gives_hold_and_inward_motion_passes() -> None:
    s = Scenario()
    edge = {"advance": 299.9, "rotate": 0.0}
    s.activate()
    s.run({"advance": 1.0}, frames=3)  # 1 mm/s x 150 ms lookahead = 0.15 mm
    s.wait(33)
    out = s.command({"advance": 1.0}, position=edge)
    assert (out.state, out.reason.code) == (HOLD, R.WORKSPACE_EXIT)
    assert "advance" in out.reason.text and not out.moving
    s.gate.enable(s.now)
    s.wait(33)
    inward = s.command({"advance": -1.0}, position=edge)
    assert inward.state is ACTIVE and inward.velocity["advance"] < 0


def test_a_position_outside_the_workspace_latches_stop_until_reset() -> None:
    s = Scenario()
    s.activate()
    s.wait(33)
    breach = s.command({"advance": 0.0}, position={"advance": 300.5, "rotate": 0.0})
    assert (breach.state, breach.reason.code) == (STOP, R.WORKSPACE_BREACH)
    for call in (s.gate.enable, s.gate.keepalive, s.gate.tick, s.gate.release):
        s.wait(10)
        assert call(s.now).state is STOP
    s.wait(33)
    assert s.command({"advance": 1.0}).state is STOP
    reset = s.gate.reset(s.now)
    assert (reset.state, reset.reason.code) == (HOLD, R.RESET)
    s.wait(33)
    assert s.command({"advance": 1.0}).reason.code is R.NOT_ENABLED
    s.activate()


def test_decisions_and_transitions_are_json() -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 50.0, "rotate": 0.5}, frames=2)
    s.wait(33)
    decision = s.command({"advance": 1.0}, age_ms=500.0)
    doc = json.loads(json.dumps(decision.to_json(), allow_nan=False))
    assert doc["state"] == "HOLD" and doc["reason"]["code"] == "frame_stale"
    assert doc["velocity"] == {"advance": 0.0, "rotate": 0.0}
    assert doc["units"] == {"advance": "mm/s", "rotate": "rad/s"}
    assert doc["frame"] == {"seq": s.seq, "t_capture_ns": s.now - 500 * MS}
    assert doc["transitions"][0]["previous"] == "ACTIVE"
    s.wait(33)
    s.gate.enable(s.now)
    s.wait(33)
    clipped = s.command({"advance": 50.0}).to_json()
    assert clipped["clipped"] == [{"axis": "advance", "limit": "accel", "requested": 50.0,
                                   "allowed": pytest.approx(50 * 0.066)}]  # fmt: skip
