"""The closed loop in one process (docs/robot-feed.md, "Closed loop"): a robot-driven fluoroscopy
simulator as the engine's live source, the shipped navigation policy on its roadmap behind the
fluoroscopy gate preset, the robot feed, and a simulated robot on that feed moving the
simulator's catheter. The catheter must get much closer to its target, and the robot must
halt once the engine is gone. Frames are paced at 15 fps; nothing here asserts a speed
(the time to the target is the demo's and bench's to report); the budgets are in frames, so a
loaded machine that renders late gets as many."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from orstream.pipelines import (
    Engine,
    LivePipeline,
    PipelineSummary,
    RobotLink,
    TipResult,
    make_pipeline,
)
from orstream.policies import GuidanceObservation, GuidanceProposal
from orstream.sim import (
    SUCCESS_MM,
    RobotFluoroSimulator,
    SimRobot,
    SimSource,
    read_roadmap,
    write_roadmap,
)
from orstream.stream import Frame
from tests._helpers import free_port, wait_until

SIZE = (256, 256)
RUN_BOUND_S = 180.0  # a failure bound only


class TruthTip:
    """Perception that is never wrong: the simulator's own tip, confidence 0.95."""

    name = "truth-tip"

    def __call__(self, frame: Frame) -> Frame:
        x, y = frame.meta["truth"]["tip_px"]
        row, col = frame.spacing_mm or (1.0, 1.0)
        frame.results["tip"] = TipResult(True, x, y, x * col, y * row, 0.95, "truth")
        return frame


def closed_loop(
    tmp_path: Path, pipeline: LivePipeline, seed: int, *, frames: int, stop_fraction: float
) -> dict[str, Any]:
    """Run the loop until the catheter is within ``stop_fraction`` of its start error of the
    target (or within ``SUCCESS_MM``) or ``frames`` frames are shown; the simulator's
    ``closed_loop`` report, the engine's summary, and the robot after the engine closed."""
    roadmap = tmp_path / "roadmap.json"
    write_roadmap(RobotFluoroSimulator(seed, size=SIZE).roadmap(), roadmap)
    endpoint = f"zmq+tcp://127.0.0.1:{free_port()}"
    link = RobotLink(
        endpoint,
        control=None,
        enable=True,
        gate_settings="fluoro",
        policy="shipped",
        roadmap=roadmap,
        repress_after_ms=500,
    )
    robot = SimRobot(endpoint).start()
    summaries: list[PipelineSummary] = []
    try:
        sim = RobotFluoroSimulator(seed, size=SIZE, robot=robot)
        engine = Engine(SimSource(sim, frames=frames), pipeline, robot=link)
        stop_mm = max(SUCCESS_MM, stop_fraction * sim.start_error_mm)
        runner = threading.Thread(target=lambda: summaries.append(engine.run()), daemon=True)
        runner.start()
        deadline = time.monotonic() + RUN_BOUND_S
        while runner.is_alive() and time.monotonic() < deadline:
            if sim.error_mm <= stop_mm:
                engine.stop_event.set()
            runner.join(timeout=0.05)
        engine.stop_event.set()
        runner.join(timeout=30.0)
        assert not runner.is_alive(), "the engine did not stop"
        wait_until(lambda: robot.halted and bool(robot.halts))  # the feed is gone
        stopped = robot.pose()
        time.sleep(0.2)
        return {
            "device": sim.describe()["closed_loop"],
            "summary": summaries[0],
            "stopped": stopped,
            "later": robot.pose(),
            "halts": list(robot.halts),
            "frames": sim.frames,
        }
    finally:
        robot.close()
        link.close()


def check_progress(run: dict[str, Any]) -> None:
    device, summary = run["device"], run["summary"]
    start, final = device["start_error_mm"], device["final_error_mm"]
    print(f"closed loop: {start} mm -> {final} mm along the vessels in {run['frames']} frames "
          f"(closest {device['closest_mm']} mm, reached {device['reached']}); "
          f"gate transitions {summary.robot['transitions']}")  # fmt: skip
    assert final < start
    assert device["closest_mm"] <= final + 1e-9
    assert device["pushed_mm"] < 0.1 * device["path_mm"]  # it slid along the vessels
    robot = summary.robot
    assert robot is not None and robot["guidance"] == "policy:catheter-nav"
    assert any("->ACTIVE" in key for key in robot["transitions"])
    assert robot["feed"]["sent"]["command"] > 0
    assert device["robot"]["malformed"] == 0


def check_halt_after_close(run: dict[str, Any]) -> None:
    assert run["halts"], "the robot never halted after the feed went away"
    assert "no feed message" in run["halts"][-1].reason
    assert run["later"] == run["stopped"]  # halted: it moves no more


def test_the_policy_brings_the_catheter_to_the_target_with_true_tips(tmp_path: Path) -> None:
    """Perception that is never wrong: the policy, the gate and the robot reach the target
    (about 270 frames at the gate's 10 mm/s; the budget allows 450)."""
    run = closed_loop(
        tmp_path, LivePipeline("truth", [TruthTip()]), seed=0, frames=450, stop_fraction=0.0
    )
    check_progress(run)
    assert run["device"]["reached"] and run["device"]["final_error_mm"] <= SUCCESS_MM
    check_halt_after_close(run)


def test_the_fluoro_pipeline_tracks_the_catheter_the_policy_steers(tmp_path: Path) -> None:
    """The shipped tracker on the frames: the catheter gets half way along the vessels to
    its target (about 135 frames; the budget allows 300)."""
    run = closed_loop(tmp_path, make_pipeline("fluoro"), seed=3, frames=300, stop_fraction=0.5)
    check_progress(run)
    assert run["device"]["final_error_mm"] <= 0.5 * run["device"]["start_error_mm"]
    check_halt_after_close(run)


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
