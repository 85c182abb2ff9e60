"""``orstream run --robot``: the policy process killed mid-motion (SIGKILL) leaves the simulated
robot halting by its own timeout; a feed beyond loopback without CURVE, and a bad target, are
one-line errors. Timeouts are failure bounds only."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import orstream.policies
from orstream.sim import ROBOT_TIMEOUT_MS, SimRobot
from tests._helpers import FAILURE_BOUND_S, free_port, orstream_main, orstream_spawn, stderr_line

SLOW_TRACKING_GATE = {
    "max_frame_age_ms = 100.0": "max_frame_age_ms = 400.0",
    "workspace_lookahead_ms = 150.0": "workspace_lookahead_ms = 450.0",
}
"""The shipped gate with room for 15 fps fluoroscopy on a loaded test machine, so that the
robot is still moving when the process is killed."""


def _gate_file(tmp_path: Path) -> Path:
    text = (Path(orstream.policies.__file__).parent / "gate.toml").read_text()
    for old, new in SLOW_TRACKING_GATE.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "gate.toml"
    path.write_text(text)
    return path


def _wait(predicate: Callable[[], bool], what: str, timeout_s: float = FAILURE_BOUND_S * 6) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.02)


def test_a_killed_policy_process_leaves_the_robot_halting_by_its_own_timeout(
    tmp_path: Path,
) -> None:
    feed = f"zmq+tcp://127.0.0.1:{free_port()}"
    process = orstream_spawn(
        "run", "--source", "sim:fluoro?fps=15&seed=3", "--pipeline", "fluoro",
        "--robot", feed, "--robot-control", f"zmq+tcp://127.0.0.1:{free_port()}",
        "--robot-enable", "--target", "256,200", "--robot-gate", str(_gate_file(tmp_path)),
        "--quiet",
    )  # fmt: skip
    robot = SimRobot(feed).start()
    try:
        stderr_line(process, "robot feed on")
        _wait(lambda: robot.velocity().get("advance", 0.0) > 0.0, "the robot moving")
        os.kill(process.pid, signal.SIGKILL)
        killed = time.monotonic_ns()
        process.wait(timeout=FAILURE_BOUND_S)
        _wait(lambda: robot.halted, "the robot halting")
        halt = robot.halts[-1]  # a loaded machine may have halted it before, briefly
        assert halt.detected_ns >= killed
        assert halt.reason.endswith("while moving")
        silent_ms = (halt.detected_ns - killed) / 1e6
        print(f"SIGKILL to robot halt: {silent_ms:.1f} ms (timeout {ROBOT_TIMEOUT_MS:g} ms)")
        messages, pose = robot.stats()["messages"], robot.pose()
        time.sleep(0.3)
        assert robot.stats()["messages"] == messages  # nobody talks to it any more
        assert robot.pose() == pose  # and it stays where it halted
        assert robot.velocity() == {}
    finally:
        robot.close()
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=FAILURE_BOUND_S)


def test_a_robot_feed_beyond_loopback_without_curve_is_one_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = orstream_main(
        "run", "--source", "sim:fluoro?frames=1", "--robot", f"zmq+tcp://0.0.0.0:{free_port()}"
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "without CURVE" in err and "curve_secret" in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1


def test_a_bad_target_or_robot_options_without_robot_are_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert orstream_main("run", "--robot", "--target", "12") == 2
    assert "X,Y" in capsys.readouterr().err
    assert orstream_main("run", "--target", "1,2") == 2
    assert "need --robot" in capsys.readouterr().err
