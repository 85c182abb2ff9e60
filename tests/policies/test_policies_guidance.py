"""Scripted guidance (FollowTargetGuidance) and the guided gate (GuidanceLoop) under fault
injection, on the test's clock: a stalled source, a resumed one, stale, repeated, malformed
and non-finite input, a confidence drop, a guidance that fails (docs/robot-feed.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest

from orstream.policies import (
    FollowTargetGuidance,
    GateReasonCode,
    GateState,
    GateTransition,
    GuidanceLoop,
    GuidanceObservation,
    GuidanceProposal,
    GuidanceResult,
    SafetyGate,
)

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
PERIOD_MS = 33.0
HEARTBEAT_MS = 50.0
LATENCY_MS = 20.0
R = GateReasonCode


def observe(
    seq: int,
    t_capture_ns: int,
    *,
    tip: tuple[float, float] | None = (100.0, 100.0),
    target: tuple[float, float] | None = (100.0, 200.0),
    confidence: float = 0.9,
) -> GuidanceObservation:
    return GuidanceObservation(seq, t_capture_ns, tip, confidence, target, (0.5, 0.5))


class Loop:
    """A guided gate with a simulated pedal on a test clock: frames every 33 ms, each judged
    20 ms after its capture, heartbeats every 50 ms (ns)."""

    def __init__(self, guidance: FollowTargetGuidance | None = None) -> None:
        self.loop = GuidanceLoop(guidance=guidance, pedal=True)
        self.transitions: list[GateTransition] = []
        self.loop.gate.subscribe(self.transitions.append)
        self.seq = 0
        self.now = T0
        self.next_beat = T0

    def frames(self, count: int, **kwargs: Any) -> list[GuidanceResult]:
        results = []
        for _ in range(count):
            capture = self.now + round(PERIOD_MS * MS)
            self.beats_until(capture + round(LATENCY_MS * MS))
            self.seq += 1
            results.append(self.loop.step(observe(self.seq, capture, **kwargs), self.now))
        return results

    def beats_until(self, t_ns: int) -> None:
        """Heartbeats due before ``t_ns``, then the clock at ``t_ns``."""
        while self.next_beat <= t_ns:
            self.now = self.next_beat
            self.loop.heartbeat(self.now)
            self.next_beat += round(HEARTBEAT_MS * MS)
        self.now = t_ns


def test_follow_target_is_a_capped_p_law_on_the_distance_and_stops_on_arrival() -> None:
    law = FollowTargetGuidance(gain_per_s=0.5, max_advance_mm_s=5.0, arrive_mm=1.0)
    near = law(observe(1, T0, tip=(100.0, 100.0), target=(100.0, 108.0)))  # 4 mm away
    assert near.note == "following"
    assert near.distance_to_target_mm == pytest.approx(4.0)
    assert near.velocity["advance"] == pytest.approx(2.0)
    far = law(observe(2, T0, tip=(100.0, 100.0), target=(100.0, 300.0)))  # 100 mm away
    assert far.velocity["advance"] == pytest.approx(5.0)
    there = law(observe(3, T0, tip=(100.0, 100.0), target=(101.0, 101.0)))
    assert (there.note, there.velocity["advance"]) == ("arrived", 0.0)


def test_follow_target_steers_toward_the_target_once_the_tip_has_a_heading() -> None:
    law = FollowTargetGuidance(rotate_gain_per_s=0.5, max_rotate_rad_s=0.5)
    first = law(observe(1, T0, tip=(100.0, 100.0), target=(200.0, 0.0)))
    assert first.velocity["rotate"] == 0.0  # no heading yet
    # the tip moved right (+x); the target lies up and to the right: counter-clockwise
    moved = law(observe(2, T0, tip=(110.0, 100.0), target=(200.0, 10.0)))
    assert moved.velocity["rotate"] == pytest.approx(0.5 * math.pi / 4)
    below = law(observe(3, T0, tip=(110.0, 100.0), target=(110.0, 500.0)))
    assert below.velocity["rotate"] == pytest.approx(-0.5)  # capped, clockwise


@pytest.mark.parametrize(
    ("kwargs", "note"),
    [
        ({"target": None}, "no_target"),
        ({"tip": None}, "no_tip"),
        ({"tip": (math.nan, 1.0)}, "no_tip"),
    ],
)
def test_without_a_target_or_a_tip_guidance_asks_for_nothing_and_says_why(
    kwargs: dict[str, Any], note: str
) -> None:
    proposal = FollowTargetGuidance()(observe(1, T0, **kwargs))
    assert (proposal.note, dict(proposal.velocity), proposal.distance_to_target_mm) == (
        note,
        {},
        None,
    )


def test_the_simulated_pedal_engages_on_the_first_confident_frame_and_the_robot_moves() -> None:
    s = Loop()
    low = s.frames(1, confidence=0.2)[0]
    assert (low.state, low.reason.code) == (GateState.HOLD, R.LOW_CONFIDENCE)
    results = s.frames(10)
    assert all(r.state is GateState.ACTIVE for r in results)
    assert results[-1].command["advance"] > 0
    assert s.loop.position()["advance"] > 0  # dead reckoning of the allowed velocities
    doc = results[-1].to_json()
    assert set(doc["command"]) == {"advance_mm_s", "rotate_rad_s"}
    assert doc["target"] == {"x_px": 100.0, "y_px": 200.0}
    assert doc["distance_to_target_mm"] == pytest.approx(50.0)


def test_a_stalled_source_gives_hold_at_the_first_heartbeat_past_the_limit() -> None:
    s = Loop()
    s.frames(10)
    last_capture = s.loop.latest.frame_t_capture_ns  # type: ignore[union-attr]
    limit_ns = round(s.loop.gate.settings.max_frame_age_ms * MS)
    s.beats_until(last_capture + limit_ns + round(2 * HEARTBEAT_MS * MS))  # the source stalls
    (hold,) = [t for t in s.transitions if t.state is GateState.HOLD]
    assert hold.reason.code is R.FRAME_STALE
    beyond_ms = (hold.t_ns - last_capture - limit_ns) / MS
    assert 0 < beyond_ms <= HEARTBEAT_MS  # the first heartbeat after the limit
    beat = s.loop.heartbeat(s.now)
    assert beat["state"] == "HOLD"
    assert set(beat["command"].values()) == {0.0}


def test_a_resumed_source_stays_in_hold_until_the_operator_presses_again() -> None:
    s = Loop()
    s.frames(5)
    s.beats_until(s.now + 300 * MS)  # stall: HOLD
    resumed = s.frames(5)  # the pedal is still down (keep-alives), the frames are fresh
    assert {r.reason.code for r in resumed} == {R.ENABLE_NEEDED}
    reply = s.loop.control({"op": "enable"}, s.now)
    assert reply["ok"] and reply["decision"]["reason"]["code"] == "enabled"
    assert s.frames(1)[0].state is GateState.ACTIVE


def _assert_held(result: GuidanceResult, code: GateReasonCode) -> None:
    assert result.state is GateState.HOLD
    assert result.reason.code is code
    assert all(v == 0.0 for v in result.command.values())


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("stale", R.FRAME_STALE),
        ("repeated", R.FRAME_REPEATED),
        ("nan_confidence", R.NOT_FINITE),
        ("confidence_above_1", R.BAD_COMMAND),
        ("future", R.FRAME_FUTURE),
    ],
)
def test_stale_repeated_malformed_and_non_finite_frames_give_hold_never_a_command(
    fault: str, code: GateReasonCode
) -> None:
    s = Loop()
    s.frames(3)
    last = s.loop.latest.frame_t_capture_ns  # type: ignore[union-attr]
    s.now += 5 * MS
    observation = {
        "stale": observe(s.seq + 1, s.now - 150 * MS),
        "repeated": observe(s.seq, last),
        "nan_confidence": observe(s.seq + 1, s.now - 5 * MS, confidence=math.nan),
        "confidence_above_1": observe(s.seq + 1, s.now - 5 * MS, confidence=1.5),
        "future": observe(s.seq + 1, s.now + 50 * MS),
    }[fault]
    _assert_held(s.loop.step(observation, s.now), code)
    assert s.loop.heartbeat(s.now + MS)["state"] == "HOLD"


def test_a_confidence_drop_gives_hold() -> None:
    s = Loop()
    s.frames(4)
    _assert_held(s.frames(1, confidence=0.3)[0], R.LOW_CONFIDENCE)


class _Broken:
    name = "broken"

    def __init__(self, velocity: Mapping[str, float] | None) -> None:
        self.velocity = velocity

    def __call__(self, observation: GuidanceObservation) -> GuidanceProposal:
        if self.velocity is None:
            raise RuntimeError("the policy crashed")
        return GuidanceProposal(self.velocity, None, "following")


@pytest.mark.parametrize(
    ("velocity", "code"),
    [
        (None, R.NOT_FINITE),
        ({"advance": math.inf}, R.NOT_FINITE),
        ({"sideways": 1.0}, R.BAD_COMMAND),
    ],
)
def test_a_failing_or_malformed_guidance_gives_hold(
    velocity: Mapping[str, float] | None, code: GateReasonCode
) -> None:
    loop = GuidanceLoop(SafetyGate(), _Broken(velocity), pedal=True)
    result = loop.step(observe(1, T0 - 20 * MS), T0)
    _assert_held(result, code)
    assert loop.guidance_errors.as_dict() == ({"RuntimeError": 1} if velocity is None else {})


def test_control_requests_reach_the_gate_and_bad_ones_are_refused() -> None:
    loop = GuidanceLoop()
    assert loop.control({"op": "dance"}, T0)["ok"] is False
    assert loop.control({"op": "enable", "ttl_ms": "long"}, T0)["ok"] is False
    assert loop.control({"op": "stop"}, T0)["decision"]["state"] == "STOP"
    assert loop.control({"op": "enable"}, T0 + MS)["decision"]["state"] == "STOP"  # latched
    assert loop.control({"op": "reset"}, T0 + 2 * MS)["decision"]["state"] == "HOLD"
    bad = loop.control({"op": "position", "position": {"advance": math.nan}}, T0 + 3 * MS)
    assert bad["ok"] is False
    moved = {"advance": 42.0, "rotate": 0.5}
    reply = loop.control({"op": "position", "position": moved}, T0 + 4 * MS)
    assert reply["position"] == {"advance_mm": 42.0, "rotate_rad": 0.5}
    assert loop.position() == moved


def test_the_watchdog_deadline_is_the_first_instant_a_stall_holds() -> None:
    s = Loop()
    s.frames(5)
    due = s.loop.watchdog_due_ns()
    assert due == s.loop.latest.frame_t_capture_ns + 100 * MS + 1  # type: ignore[union-attr]
    assert s.loop.heartbeat(due - 1)["state"] == "ACTIVE"
    assert s.loop.heartbeat(due)["reason"]["code"] == "frame_stale"
    assert s.loop.watchdog_due_ns() is None  # nothing to watch in HOLD


def test_the_start_position_is_where_dead_reckoning_begins() -> None:
    loop = GuidanceLoop(start_position={"advance": 120.0})
    assert loop.position() == {"advance": 120.0, "rotate": 0.0}
    with pytest.raises(ValueError, match="unknown axes"):
        GuidanceLoop(start_position={"sideways": 1.0})
