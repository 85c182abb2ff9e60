"""The shipped navigation policy as live guidance (NavPolicyGuidance) on a simulator's roadmap,
and the guided gate's simulated operator (``repress_after_ms``), clock clamp and the fluoro
gate preset, on the test's clock (docs/robot-feed.md, "Closed loop")."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import orstream.policies
from orstream.policies import (
    AxisLimits,
    GateReasonCode,
    GateState,
    GuidanceLoop,
    GuidanceObservation,
    GuidanceProposal,
    GuidanceResult,
    NavPolicyGuidance,
    OnnxPolicy,
    SafetyGate,
    gate_speed_scale,
    load_gate_settings,
    shipped_policy_path,
)
from orstream.sim import NavRoadmap, RobotFluoroSimulator, Tip, along_tree_mm

ENV_ID = "orstream/CatheterNav-v0"
MS = 1_000_000
T0 = 1_700_000_000_000 * MS
PERIOD_NS = round(1e9 / 15.0)  # fluoroscopy at 15 fps
LATENCY_NS = 20 * MS  # each frame judged this long after its capture
HEARTBEAT_NS = 50 * MS
R = GateReasonCode


@pytest.fixture(scope="module")
def device() -> RobotFluoroSimulator:
    return RobotFluoroSimulator(0, size=(256, 256))


@pytest.fixture(scope="module")
def roadmap(device: RobotFluoroSimulator) -> NavRoadmap:
    return device.roadmap()


@pytest.fixture(scope="module")
def policy() -> OnnxPolicy:
    return OnnxPolicy(shipped_policy_path(ENV_ID), ENV_ID)


def fluoro_axes() -> dict[str, AxisLimits]:
    return {axis.name: axis for axis in load_gate_settings("fluoro").axes}


def px(roadmap: NavRoadmap, tip: Tip) -> tuple[float, float]:
    """A place on the roadmap in frame px (x, y)."""
    x, y = roadmap.nav.tip_xy(tip)
    return x / roadmap.mm_per_px, y / roadmap.mm_per_px


def spacing(roadmap: NavRoadmap) -> tuple[float, float]:
    """The frame's pixel spacing (row, column mm) the roadmap is drawn at."""
    return roadmap.mm_per_px, roadmap.mm_per_px


def start_tip(device: RobotFluoroSimulator) -> Tip:
    """Where the simulator's catheter starts (on the route to the target)."""
    return Tip(device.tip.node, device.tip.along_mm)


def observe(
    roadmap: NavRoadmap,
    seq: int,
    tip_px: tuple[float, float] | None,
    *,
    t_capture_ns: int = T0,
    confidence: float = 0.9,
    position: dict[str, float] | None = None,
) -> GuidanceObservation:
    return GuidanceObservation(
        seq, t_capture_ns, tip_px, confidence, roadmap.target_px, spacing(roadmap), position or {}
    )


def test_no_tip_asks_for_no_motion(roadmap: NavRoadmap, policy: OnnxPolicy) -> None:
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes())
    proposal = guidance(observe(roadmap, 1, None))
    assert proposal.note == "no_tip"
    assert not any(proposal.velocity.values())
    assert guidance.name == f"policy:{policy.name}"


def test_a_tip_at_the_start_is_followed_within_the_gate_s_rates(
    device: RobotFluoroSimulator, roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    axes = fluoro_axes()
    guidance = NavPolicyGuidance(policy, roadmap, axes)
    nav = roadmap.nav
    tip = start_tip(device)
    proposal = guidance(observe(roadmap, 1, px(roadmap, tip)))
    assert proposal.note == "following"
    assert set(proposal.velocity) == {"advance", "rotate"}
    for axis, velocity in proposal.velocity.items():
        assert math.isfinite(velocity)
        assert abs(velocity) <= axes[axis].max_rate + 1e-9
    assert proposal.velocity["advance"] > 0  # the start is far from the target: go in
    expected = along_tree_mm(nav, tip, nav.distances_from(roadmap.target))
    assert proposal.distance_to_target_mm == pytest.approx(expected, abs=0.5)
    assert guidance.relocations == 1 and guidance.implausible == 0
    assert gate_speed_scale(axes) == pytest.approx(guidance.scale)


def test_a_tip_at_the_target_has_arrived(roadmap: NavRoadmap, policy: OnnxPolicy) -> None:
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes())
    target = roadmap.target
    at = Tip(target, roadmap.nav.seg_mm[target])
    proposal = guidance(observe(roadmap, 1, px(roadmap, at)))
    assert proposal.note == "arrived"
    assert not any(proposal.velocity.values())
    assert proposal.distance_to_target_mm is not None and proposal.distance_to_target_mm < 1.0


def test_a_kept_place_that_reckoned_ahead_does_not_arrive_before_the_tracked_tip(
    roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    """The robot's advance moves the kept place to within ``SUCCESS_MM`` of the target while
    the tracked tip stays 4.5 mm away (the catheter buckled): within ``RELOCATE_MM`` of each
    other, but guidance follows on the tracked tip's place instead of stopping short; it
    arrives once the tracked tip is there too."""
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes())
    nav, target = roadmap.nav, roadmap.target
    route = nav.path_to(target)
    short = nav.place(route, nav.arc_mm[target] - 4.5)
    assert guidance(observe(roadmap, 1, px(roadmap, short))).note == "following"
    ahead = observe(roadmap, 2, px(roadmap, short), position={"advance": 1.8})
    proposal = guidance(ahead)
    assert proposal.note == "following" and proposal.velocity["advance"] > 0
    assert proposal.distance_to_target_mm == pytest.approx(4.5, abs=0.05)
    there = nav.place(route, nav.arc_mm[target] - 2.0)
    arrived = guidance(observe(roadmap, 3, px(roadmap, there), position={"advance": 4.3}))
    assert arrived.note == "arrived" and not any(arrived.velocity.values())


def test_a_tip_30_mm_from_the_kept_place_is_implausible(
    device: RobotFluoroSimulator, roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes())
    tip = start_tip(device)
    x, y = px(roadmap, tip)
    assert guidance(observe(roadmap, 1, (x, y))).note == "following"
    jumped = (x + 30.0 / roadmap.mm_per_px, y)
    proposal = guidance(observe(roadmap, 2, jumped))
    assert proposal.note == "implausible"
    assert proposal.confidence == 0.0
    assert not any(proposal.velocity.values())
    assert guidance.implausible == 1 and guidance.relocations == 1  # the place was kept
    assert guidance(observe(roadmap, 3, (x, y))).note == "following"  # back where expected


def test_an_unconfident_first_tip_sets_no_place(
    device: RobotFluoroSimulator, roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes(), min_confidence=0.5)
    tip_px = px(roadmap, start_tip(device))
    proposal = guidance(observe(roadmap, 1, tip_px, confidence=0.3))
    assert proposal.note == "no_tip" and not any(proposal.velocity.values())
    assert guidance.tip is None and guidance.relocations == 0
    assert guidance(observe(roadmap, 2, tip_px, confidence=0.8)).note == "following"
    assert guidance.relocations == 1


def test_a_steady_confident_tip_away_from_a_wrong_first_fix_is_taken_after_a_second(
    device: RobotFluoroSimulator, roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    """A first fix 30 mm off (the tracker's first guess was wrong) holds the gate while the
    tracker shows the true tip; 15 steady frames in a row (1 s) move the place to it; a
    jittering or unconfident tracker never does."""
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes(), reacquire_frames=15)
    true_px = px(roadmap, start_tip(device))
    wrong = (true_px[0] + 30.0 / roadmap.mm_per_px, true_px[1])
    guidance(observe(roadmap, 1, wrong))
    first_fix = guidance.tip
    notes = [guidance(observe(roadmap, 2 + k, true_px)).note for k in range(15)]
    assert notes[:14] == ["implausible"] * 14 and notes[14] != "implausible"
    assert guidance.tip is not first_fix and guidance.relocations == 2
    assert math.dist(px(roadmap, guidance.tip), true_px) < 1.0

    jitter = NavPolicyGuidance(policy, roadmap, fluoro_axes(), reacquire_frames=15)
    jitter(observe(roadmap, 1, wrong))
    for k in range(40):  # alternating 3 mm apart, or unconfident every other frame
        x = true_px[0] + (3.0 / roadmap.mm_per_px if k % 4 == 0 else 0.0)
        confidence = 0.2 if k % 4 == 2 else 0.9
        seen = observe(roadmap, 2 + k, (x, true_px[1]), confidence=confidence)
        assert jitter(seen).note == "implausible"
    assert jitter.relocations == 1


def test_the_kept_place_moves_with_the_robot_between_frames(
    device: RobotFluoroSimulator, roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    """Dead reckoning: the robot's advance axis moves the kept place as the catheter moves, so
    a tracked tip that follows it never relocates; pulling back moves it back."""
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes())
    nav = roadmap.nav
    true = start_tip(device)
    advance = 0.0
    for seq in range(1, 41):
        if seq > 1:
            step = 0.5 if seq <= 30 else -0.5  # in for 14.5 mm, then back 5 mm
            advance += step
            if step > 0:
                nav.advance(true, step, 0.0)
            else:
                nav.retract(true, -step)
        seen = observe(roadmap, seq, px(roadmap, true), position={"advance": advance})
        assert guidance(seen).note == "following"
        assert guidance.tip is not None
        assert math.dist(nav.tip_xy(guidance.tip), nav.tip_xy(true)) < 1e-6
    assert guidance.relocations == 1 and guidance.implausible == 0


def test_a_policy_needs_the_catheter_axes_and_a_sane_speed_scale(
    roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    axes = fluoro_axes()
    with pytest.raises(ValueError, match="rotate"):
        NavPolicyGuidance(policy, roadmap, {"advance": axes["advance"]})
    for bad in (0.0, 1.5, math.nan):
        with pytest.raises(ValueError, match="speed_scale"):
            NavPolicyGuidance(policy, roadmap, axes, speed_scale=bad)


class Clocked:
    """A guided gate (fluoro preset, simulated pedal) on a test clock: frames at 15 fps, each
    judged 20 ms after its capture; heartbeats every 50 ms in between."""

    def __init__(
        self,
        guidance: Any,
        repress_after_ms: float | None = None,
        spacing_mm: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        self.spacing_mm = spacing_mm
        self.loop = GuidanceLoop(
            SafetyGate(load_gate_settings("fluoro")),
            guidance,
            pedal=True,
            repress_after_ms=repress_after_ms,
        )
        self.seq, self.now, self.next_beat = 0, T0, T0

    def frame(self, tip_px: tuple[float, float] | None, confidence: float = 0.9) -> GuidanceResult:
        capture = self.now + PERIOD_NS
        while self.next_beat <= capture + LATENCY_NS:
            self.now = self.next_beat
            self.loop.heartbeat(self.now)
            self.next_beat += HEARTBEAT_NS
        self.now = capture + LATENCY_NS
        self.seq += 1
        seen = GuidanceObservation(self.seq, capture, tip_px, confidence, None, self.spacing_mm)
        return self.loop.step(seen, self.now)


def test_an_implausible_jump_holds_the_gate_and_never_moves_the_robot(
    device: RobotFluoroSimulator, roadmap: NavRoadmap, policy: OnnxPolicy
) -> None:
    guidance = NavPolicyGuidance(policy, roadmap, fluoro_axes())
    clocked = Clocked(guidance, spacing_mm=spacing(roadmap))
    x, y = px(roadmap, start_tip(device))
    results = [clocked.frame((x, y)) for _ in range(4)]
    assert results[-1].state is GateState.ACTIVE and results[-1].note == "following"
    jump = clocked.frame((x + 30.0 / roadmap.mm_per_px, y))
    assert jump.note == "implausible" and jump.confidence == 0.0
    assert jump.state is GateState.HOLD and jump.reason.code is R.LOW_CONFIDENCE
    assert not any(jump.command.values()) and not any(jump.requested.values())
    beat = clocked.loop.heartbeat(clocked.now + 10 * MS)
    assert beat["state"] == "HOLD" and not any(v for v in beat["command"].values())


class Retracting(OnnxPolicy):
    """The shipped policy's file, but it always asks to pull back (action advance -1)."""

    def act(self, obs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.array([-1.0, 0.0], dtype=np.float32)


def test_a_retract_at_the_workspace_edge_is_dropped_before_the_gate(
    device: RobotFluoroSimulator,
    roadmap: NavRoadmap,
) -> None:
    guidance = NavPolicyGuidance(Retracting(shipped_policy_path(ENV_ID), ENV_ID), roadmap,
                                 fluoro_axes())  # fmt: skip
    tip_px = px(roadmap, start_tip(device))
    direct = guidance(observe(roadmap, 1, tip_px, position={"advance": 0.0, "rotate": 0.0}))
    assert direct.note == "following" and direct.velocity["advance"] == 0.0
    retracting = NavPolicyGuidance(
        Retracting(shipped_policy_path(ENV_ID), ENV_ID), roadmap, fluoro_axes()
    )
    clocked = Clocked(retracting, spacing_mm=spacing(roadmap))
    results = [clocked.frame(tip_px) for _ in range(15)]
    assert all(r.requested["advance"] == 0.0 for r in results)
    assert all(r.reason.code is not R.WORKSPACE_EXIT for r in results)
    assert results[-1].state is GateState.ACTIVE
    assert clocked.loop.position()["advance"] == 0.0


def test_a_retract_well_inside_the_workspace_passes(
    device: RobotFluoroSimulator, roadmap: NavRoadmap
) -> None:
    guidance = NavPolicyGuidance(Retracting(shipped_policy_path(ENV_ID), ENV_ID), roadmap,
                                 fluoro_axes())  # fmt: skip
    tip_px = px(roadmap, start_tip(device))
    proposal = guidance(observe(roadmap, 1, tip_px, position={"advance": 50.0}))
    assert proposal.velocity["advance"] < 0.0


class Steady:
    """Scripted guidance: always the same small advance."""

    name = "steady"

    def __call__(self, observation: GuidanceObservation) -> GuidanceProposal:
        return GuidanceProposal({"advance": 1.0, "rotate": 0.0}, 50.0, "following")


def confidence_dip(repress_after_ms: float | None) -> tuple[Clocked, list[GuidanceResult]]:
    """ACTIVE on good frames, then 5 low-confidence frames, then 20 good frames again."""
    clocked = Clocked(Steady(), repress_after_ms)
    before = [clocked.frame((10.0, 10.0)) for _ in range(3)]
    assert before[-1].state is GateState.ACTIVE
    dip = [clocked.frame((10.0, 10.0), confidence=0.1) for _ in range(5)]
    assert dip[0].state is GateState.HOLD and dip[0].reason.code is R.LOW_CONFIDENCE
    return clocked, [clocked.frame((10.0, 10.0)) for _ in range(20)]


def test_the_simulated_operator_presses_again_after_good_tracking_for_the_repress_time() -> None:
    clocked, after = confidence_dip(repress_after_ms=500.0)
    first_good = after[0].frame_t_capture_ns
    back = next(r for r in after if r.state is GateState.ACTIVE)
    assert back.frame_t_capture_ns - first_good >= 500 * MS  # not before the time is up
    assert back.frame_t_capture_ns - first_good <= 500 * MS + 2 * PERIOD_NS
    assert clocked.loop.represses == 1
    assert after[-1].state is GateState.ACTIVE


def test_without_repress_a_hold_waits_for_a_real_press() -> None:
    clocked, after = confidence_dip(repress_after_ms=None)
    assert all(r.state is GateState.HOLD for r in after)
    assert after[-1].reason.code is R.ENABLE_NEEDED
    assert clocked.loop.represses == 0


def test_repress_after_ms_must_be_finite_and_not_negative() -> None:
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="repress_after_ms"):
            GuidanceLoop(repress_after_ms=bad)


def test_a_time_read_just_before_another_thread_s_is_no_clock_fault() -> None:
    clocked = Clocked(Steady())
    for _ in range(3):
        clocked.frame((10.0, 10.0))
    loop = clocked.loop
    capture = clocked.now + PERIOD_NS
    t = capture + LATENCY_NS
    loop.heartbeat(t)
    late = loop.step(GuidanceObservation(99, capture, (10.0, 10.0), 0.9, None, (1.0, 1.0)),
                     t - 1 * MS)  # fmt: skip
    assert late.state is GateState.ACTIVE
    assert late.reason.code is not R.CLOCK_BACKWARDS
    stepped = loop.step(GuidanceObservation(100, capture + PERIOD_NS, (10.0, 10.0), 0.9, None,
                                            (1.0, 1.0)), t - 1000 * MS)  # fmt: skip
    assert stepped.state is GateState.HOLD
    assert stepped.reason.code is R.CLOCK_BACKWARDS


def test_the_fluoro_preset_differs_from_the_default_in_frame_age_and_lookahead_only() -> None:
    default, fluoro = load_gate_settings(), load_gate_settings("fluoro")
    assert fluoro.max_frame_age_ms == 200.0
    assert fluoro.workspace_lookahead_ms >= fluoro.max_frame_age_ms
    assert fluoro != default
    same = dataclasses.replace(
        default,
        max_frame_age_ms=fluoro.max_frame_age_ms,
        workspace_lookahead_ms=fluoro.workspace_lookahead_ms,
    )
    assert same == fluoro
    assert load_gate_settings("default") == default


def test_a_file_named_like_a_preset_wins_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = Path(orstream.policies.__file__).parent / "gate-fluoro.toml"
    text = shipped.read_text(encoding="utf-8").replace(
        "max_frame_age_ms = 200.0", "max_frame_age_ms = 120.0"
    )
    assert "max_frame_age_ms = 120.0" in text
    (tmp_path / "fluoro").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_gate_settings("fluoro").max_frame_age_ms == 120.0
