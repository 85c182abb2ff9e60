"""The simulated robot (SimRobot): integrates ACTIVE commands, zeroes on anything else, halts by
its own watchdog, ignores repeated and malformed messages; on the test's clock, then once over
a real feed."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from orstream.sim import ROBOT_TIMEOUT_MS, HaltEvent, SimRobot, parse_command
from orstream.stream import RobotFeedSink
from tests._helpers import TCP_BIND, wait_until

MS = 1_000_000


def message(
    seq: int, state: str = "ACTIVE", kind: str = "command", **command: Any
) -> dict[str, Any]:
    return {
        "v": 1,
        "seq": seq,
        "t_ns": seq,
        "kind": kind,
        "state": state,
        "command": command or {"advance_mm_s": 2.0, "rotate_rad_s": 0.1},
    }


def test_parse_command_takes_finite_numbers_under_unit_keys_only() -> None:
    assert parse_command({"advance_mm_s": 2, "translate_x_mm_s": 1.5, "tilt_rad_s": -0.1}) == {
        "advance": 2.0,
        "translate_x": 1.5,
        "tilt": -0.1,
    }
    for bad in ({"advance": 1.0}, {"_mm_s": 1.0}, {"advance_mm_s": None}, {"advance_mm_s": True},
                {"advance_mm_s": math.inf}, [1.0], None):  # fmt: skip
        assert parse_command(bad) is None


def test_the_robot_integrates_active_commands_and_zeroes_on_hold() -> None:
    poses: list[dict[str, float]] = []
    robot = SimRobot(None, clock=lambda: 0, on_pose=poses.append)
    assert robot.halted  # nothing heard yet
    robot.handle(message(1), 0)
    robot.handle(message(2, kind="heartbeat"), 100 * MS)
    robot.handle(message(3, state="HOLD", kind="transition"), 140 * MS)
    robot.handle(message(4, state="HOLD", advance_mm_s=9.0), 200 * MS)  # not honoured
    assert robot.pose() == pytest.approx({"advance": 0.28, "rotate": 0.014})
    assert robot.velocity() == {}
    assert not robot.halted
    assert len(poses) == 2  # started moving, stopped


def test_the_robot_halts_by_its_own_timeout_whatever_it_was_told() -> None:
    halts: list[HaltEvent] = []
    robot = SimRobot(None, timeout_ms=ROBOT_TIMEOUT_MS, clock=lambda: 0, on_halt=halts.append)
    robot.handle(message(1), 0)
    assert robot.check(150 * MS) is None  # exactly the timeout: still fine
    event = robot.check(170 * MS)
    assert event is not None and halts == [event]
    assert (event.t_ns, event.detected_ns) == (150 * MS, 170 * MS)
    assert event.pose["advance"] == pytest.approx(0.3)  # moved until the watchdog fired
    assert robot.halted and robot.velocity() == {}
    assert robot.check(500 * MS) is None  # one event per halt


def test_repeated_and_bad_messages_do_not_refresh_the_watchdog_or_move_the_robot() -> None:
    robot = SimRobot(None, clock=lambda: 0)
    robot.handle(message(5), 0)
    robot.handle(message(5, advance_mm_s=9.0), 100 * MS)  # a republish: ignored
    robot.handle(message(4), 120 * MS)
    assert robot.ignored["repeated"] == 2
    assert robot.check(151 * MS) is not None  # the last sound message was at 0
    robot.handle(message(1, advance_mm_s=1.0), 200 * MS)  # after a halt: a restarted feed
    assert not robot.halted and robot.velocity() == {"advance": 1.0}
    robot.handle(message(2, advance_mm_s=math.nan), 210 * MS)
    assert robot.ignored["bad_command"] == 1 and robot.velocity() == {}


def test_the_robot_follows_a_real_feed_and_halts_when_it_goes_silent() -> None:
    fields = {"state": "ACTIVE", "command": {"advance_mm_s": 1.0}}
    feed = RobotFeedSink(TCP_BIND, lambda _now: fields, heartbeat_hz=50.0)
    robot = SimRobot(f"zmq+{feed.last_endpoint}").start()
    try:
        feed.open()
        wait_until(lambda: not robot.halted and robot.pose().get("advance", 0.0) > 0.0)
        closed = time.monotonic_ns()  # the robot's clock
        feed.close()  # the policy process is gone: no more heartbeats
        wait_until(lambda: robot.halted)
        event = robot.halts[-1]  # a loaded machine may have halted it before, briefly
        assert event.detected_ns >= closed
        assert "no feed message" in event.reason
        stopped = robot.pose()["advance"]
        assert robot.pose()["advance"] == stopped
    finally:
        robot.close()
        feed.close()
