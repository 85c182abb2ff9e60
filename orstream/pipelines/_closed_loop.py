"""The closed loop in one process: a robot-driven fluoroscope as the engine's live source, a
guidance behind the safety gate on the robot feed, and the simulated robot on that feed moving
the fluoroscope's catheter (docs/robot-feed.md, "Closed loop"). The demo runs the same parts as
three processes; this is what tests and ``orstream bench closed_loop`` run.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..sim import SUCCESS_MM, HaltEvent, RobotFluoroSimulator, SimRobot, SimSource, write_roadmap
from ._guidance_stage import RobotLink
from ._live import Engine, LivePipeline
from ._ports import free_loopback_port
from ._results import PipelineSummary

GUIDANCES: Final = ("shipped", "scripted", "follow-target")
"""What can steer: the shipped navigation policy, the scripted centerline controller (both on
the roadmap), and :class:`~orstream.policies.FollowTargetGuidance` straight at the target."""
_BOUND_S: Final = 600.0
_HALT_WAIT_S: Final = 5.0


@dataclass(frozen=True)
class ClosedLoopRun:
    """One run: the device's ``closed_loop`` report (``reached``, ``reached_at_s``, errors and
    path in mm), the engine's ``summary`` (its ``robot`` has the gate's transitions), the
    ``frames`` shown, the robot's ``halts`` after the engine closed, and its pose then and a
    moment later (``pose_at_halt``, ``pose_after``: equal when it stayed halted)."""

    guidance: str
    seed: int
    device: dict[str, Any]
    summary: PipelineSummary
    frames: int
    halts: list[HaltEvent] = field(default_factory=list)
    pose_at_halt: dict[str, float] = field(default_factory=dict)
    pose_after: dict[str, float] = field(default_factory=dict)


def _robot_link(
    endpoint: str, guidance: str, sim: RobotFluoroSimulator, repress_after_ms: float
) -> RobotLink:
    """The engine's feed to the robot on ``endpoint``: the ``fluoro`` gate preset, armed, with
    ``guidance`` on the roadmap of ``sim`` (or following its target)."""
    on_roadmap = guidance != "follow-target"
    with tempfile.TemporaryDirectory(prefix="orstream-loop-") as tmp:
        roadmap = Path(tmp) / "roadmap.json"
        write_roadmap(sim.roadmap(), roadmap)
        return RobotLink(
            endpoint,
            control=None,
            enable=True,
            gate_settings="fluoro",
            policy=guidance if on_roadmap else None,
            roadmap=roadmap if on_roadmap else None,
            target_px=None if on_roadmap else sim.roadmap().target_px,
            repress_after_ms=repress_after_ms,
        )


def run_closed_loop(
    seed: int,
    pipeline: str | LivePipeline = "fluoro",
    *,
    guidance: str = "shipped",
    size: tuple[int, int] = (1024, 1024),
    frames: int = 900,
    stop_within_mm: float = SUCCESS_MM,
    repress_after_ms: float = 1000.0,
) -> ClosedLoopRun:
    """Run the loop on the fluoroscope of ``seed`` (``size`` px, 15 fps in real time) with
    ``pipeline`` (its tip result is the perception) until the catheter is within
    ``stop_within_mm`` of its target along the vessels or ``frames`` frames were shown;
    ``guidance``: one of :data:`GUIDANCES`. The gate is the ``fluoro`` preset; the simulated
    operator presses again ``repress_after_ms`` after a HOLD."""
    if guidance not in GUIDANCES:
        raise ValueError(f"guidance must be one of {', '.join(GUIDANCES)} (got {guidance!r})")
    endpoint = f"zmq+tcp://127.0.0.1:{free_loopback_port()}"
    robot = SimRobot(endpoint)
    try:
        sim = RobotFluoroSimulator(seed, size=size, robot=robot)
        link = _robot_link(endpoint, guidance, sim, repress_after_ms)
    except BaseException:
        robot.close()
        raise
    robot.start()
    try:
        engine = Engine(SimSource(sim, frames=frames), pipeline, robot=link)
        summaries: list[PipelineSummary] = []
        runner = threading.Thread(target=lambda: summaries.append(engine.run()), daemon=True)
        runner.start()
        deadline = time.monotonic() + _BOUND_S
        while runner.is_alive() and time.monotonic() < deadline:
            if sim.error_mm <= stop_within_mm:
                engine.stop_event.set()
            runner.join(timeout=0.05)
        engine.stop_event.set()
        runner.join(timeout=30.0)
        if runner.is_alive() or not summaries:
            raise RuntimeError("the engine did not stop")
        waited = time.monotonic() + _HALT_WAIT_S
        while not (robot.halted and robot.halts) and time.monotonic() < waited:
            time.sleep(0.01)  # the feed is gone: the robot's own watchdog halts it
        at_halt = robot.pose()
        time.sleep(0.2)
        return ClosedLoopRun(
            guidance,
            seed,
            sim.describe()["closed_loop"],
            summaries[0],
            sim.frames,
            list(robot.halts),
            at_halt,
            robot.pose(),
        )
    finally:
        robot.close()
        link.close()
