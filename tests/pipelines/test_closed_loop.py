"""The closed loop in one process (docs/robot-feed.md, "Closed loop"): a robot-driven fluoroscopy
simulator as the engine's live source, the shipped navigation policy on its roadmap behind the
fluoroscopy gate preset, the robot feed, and a simulated robot on that feed moving the
simulator's catheter. The catheter must get much closer to its target, and the robot must
halt once the engine is gone. Frames are paced at 15 fps; nothing here asserts a speed
(the time to the target is the demo's and bench's to report); the budgets are in frames, so a
loaded machine that renders late gets as many."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orstream.pipelines import (
    ClosedLoopRun,
    LivePipeline,
    RobotLink,
    TipResult,
    run_closed_loop,
)
from orstream.policies import GuidanceObservation, GuidanceProposal
from orstream.sim import SUCCESS_MM, RobotFluoroSimulator, read_roadmap, write_roadmap
from orstream.stream import Frame
from tests._helpers import free_port

SIZE = (256, 256)
TRACKED_SIZE = (512, 512)
"""The real tracker's frames: at 256 px its confidence dips below the gate's threshold along
some routes (the catheter is 1-2 px wide there)."""


class TruthTip:
    """Perception that is never wrong: the simulator's own tip, confidence 0.95."""

    name = "truth-tip"

    def __call__(self, frame: Frame) -> Frame:
        x, y = frame.meta["truth"]["tip_px"]
        row, col = frame.spacing_mm or (1.0, 1.0)
        frame.results["tip"] = TipResult(True, x, y, x * col, y * row, 0.95, "truth")
        return frame


def check_progress(run: ClosedLoopRun, guidance_name: str = "policy:catheter-nav") -> None:
    device, summary = run.device, run.summary
    start, final = device["start_error_mm"], device["final_error_mm"]
    print(f"closed loop ({run.guidance}): {start} mm -> {final} mm along the vessels in "
          f"{run.frames} frames (closest {device['closest_mm']} mm, reached {device['reached']}); "
          f"gate transitions {summary.robot and summary.robot['transitions']}")  # fmt: skip
    assert final < start
    assert device["closest_mm"] <= final + 1e-9
    assert device["pushed_mm"] < 0.1 * device["path_mm"]  # it slid along the vessels
    robot = summary.robot
    assert robot is not None and robot["guidance"] == guidance_name
    assert any("->ACTIVE" in key for key in robot["transitions"])
    assert robot["feed"]["sent"]["command"] > 0
    assert device["robot"]["malformed"] == 0


def check_halt_after_close(run: ClosedLoopRun) -> None:
    assert run.halts, "the robot never halted after the feed went away"
    assert "no feed message" in run.halts[-1].reason
    assert run.pose_after == run.pose_at_halt  # halted: it moves no more


def test_the_policy_brings_the_catheter_to_the_target_with_true_tips() -> None:
    """Perception that is never wrong: the policy, the gate and the robot reach the target
    (about 270 frames at the gate's 10 mm/s; the budget allows 450)."""
    run = run_closed_loop(0, LivePipeline("truth", [TruthTip()]), size=SIZE, frames=450)
    check_progress(run)
    assert run.device["reached"] and run.device["final_error_mm"] <= SUCCESS_MM
    check_halt_after_close(run)


def test_the_fluoro_pipeline_tracks_the_catheter_the_policy_steers() -> None:
    """The shipped tracker on the frames: the catheter gets half way along the vessels to
    its target (about 135 frames; the budget allows 300)."""
    start = RobotFluoroSimulator(3, size=TRACKED_SIZE).start_error_mm
    run = run_closed_loop(3, "fluoro", size=TRACKED_SIZE, frames=300, stop_within_mm=0.5 * start)
    check_progress(run)
    assert run.device["final_error_mm"] <= 0.5 * run.device["start_error_mm"]
    check_halt_after_close(run)


def test_the_scripted_controller_steers_on_the_same_roadmap() -> None:
    """The scripted centerline controller as live guidance (what the bench compares the policy
    with): it moves the catheter toward the target through the same gate."""
    start = RobotFluoroSimulator(0, size=SIZE).start_error_mm
    run = run_closed_loop(
        0,
        LivePipeline("truth", [TruthTip()]),
        guidance="scripted",
        size=SIZE,
        frames=150,
        stop_within_mm=0.8 * start,
    )
    check_progress(run, "policy:scripted")
    with pytest.raises(ValueError, match="guidance must be one of"):
        run_closed_loop(0, "fluoro", guidance="random", size=SIZE, frames=1)


def test_a_policy_and_a_roadmap_go_together_and_bind_nothing_when_refused(
    tmp_path: Path,
) -> None:
    roadmap = tmp_path / "roadmap.json"
    write_roadmap(RobotFluoroSimulator(0, size=SIZE).roadmap(), roadmap)
    endpoint = f"zmq+tcp://127.0.0.1:{free_port()}"
    refused: list[dict[str, Any]] = [
        {"policy": "shipped"},
        {"roadmap": roadmap},
        {"policy": "shipped", "roadmap": roadmap, "guidance": AskNothing()},
        {"policy": "shipped", "roadmap": tmp_path / "absent.json"},
    ]
    for options in refused:
        with pytest.raises(ValueError):
            RobotLink(endpoint, control=None, gate_settings="fluoro", **options)
    link = RobotLink(endpoint, control=None, gate_settings="fluoro", policy="shipped",
                     roadmap=roadmap)  # fmt: skip
    try:  # the endpoint was left free by every refusal
        assert link.stats()["guidance"] == "policy:catheter-nav"
        assert link.stage.target_px == pytest.approx(read_roadmap(roadmap).target_px)
    finally:
        link.close()


class AskNothing:
    """A guidance that asks for nothing (only its presence matters here)."""

    name = "nothing"

    def __call__(self, observation: GuidanceObservation) -> GuidanceProposal:
        return GuidanceProposal({}, None, "no_target")
