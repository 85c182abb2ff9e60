"""The robot-driven fluoroscopy simulator (RobotFluoroSimulator): a SimRobot fed on the test's
clock moves the catheter along the simulator's own vessel tree; the sheath holds it; the robot's
watchdog stops it; each frame's truth has the target and the loop's state."""

from __future__ import annotations

import math
from typing import Any

import pytest

from orstream.sim import (
    BEND_RAD,
    SUCCESS_MM,
    RobotFluoroSimulator,
    SimRobot,
    along_tree_mm,
)

MS = 1_000_000
SIZE = (256, 256)


class Clock:
    """The robot's clock, set by the test (ns)."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def command(seq: int, *, state: str = "ACTIVE", **velocity: float) -> dict[str, Any]:
    """A feed ``command`` message (docs/robot-feed.md) asking for ``velocity`` (unit keys)."""
    return {"v": 1, "seq": seq, "t_ns": seq, "kind": "command", "state": state,
            "command": velocity}  # fmt: skip


def driven(seed: int = 0) -> tuple[RobotFluoroSimulator, SimRobot, Clock]:
    clock = Clock()
    robot = SimRobot(None, clock=clock)
    return RobotFluoroSimulator(seed, size=SIZE, robot=robot), robot, clock


def arc(sim: RobotFluoroSimulator) -> float:
    """How far the tip is along the tree from the entry, mm."""
    return sim.nav.tip_arc(sim.tip)


def test_advancing_the_robot_slides_the_tip_along_the_tree_by_the_commanded_mm() -> None:
    sim, robot, clock = driven()
    first = sim.render(0)
    start_arc, start_tip = arc(sim), first.truth["tip_px"]
    robot.handle(command(1, advance_mm_s=8.0), 0)
    clock.now = 500 * MS  # 4 mm advanced
    moved = sim.render(1)
    assert moved.truth["nav"]["robot"]["advance"] == pytest.approx(4.0)
    assert arc(sim) == pytest.approx(start_arc + 4.0)
    shift_mm = math.dist(moved.truth["tip_px"], start_tip) * sim.mm_per_px
    assert 0.5 * 4.0 < shift_mm <= 4.0 + 1e-6  # a chord of the 4 mm path along the vessel
    assert sim.describe()["closed_loop"]["path_mm"] == pytest.approx(4.0)


def test_the_tip_follows_the_route_to_the_target_when_rolled_toward_each_branch() -> None:
    """Advance in 0.5 mm steps, rolling the pre-curved tip toward the route's branch before
    each fork (as a policy would): the error along the tree falls by the distance advanced."""
    sim, robot, clock = driven()
    sim.render(0)
    nav, route = sim.nav, sim.nav.path_to(sim.target)
    start, step_mm, step_ns, roll = sim.error_mm, 0.5, 100 * MS, 0.0
    assert start > 80 * step_mm + SUCCESS_MM  # the target lies beyond the 40 mm driven
    for index in range(1, 81):
        ahead = [a for a in route if arc(sim) <= nav.arc_mm[a] <= arc(sim) + step_mm]
        fork = next((a for a in ahead if len(nav.kids[a]) > 1), None)
        want = roll
        if fork is not None:  # bend the tip toward the branch on the route
            branch = route[route.index(fork) + 1]
            turn = math.remainder(nav.branch_angle[branch] - nav.angle[fork], math.tau)
            want = math.asin(max(-1.0, min(1.0, turn / BEND_RAD)))
        step_s = step_ns / 1e9
        rates = command(index, advance_mm_s=step_mm / step_s, rotate_rad_s=(want - roll) / step_s)
        robot.handle(rates, clock.now)
        clock.now += step_ns
        roll = want
        sim.render(index)
    assert sim.error_mm == pytest.approx(start - 80 * step_mm, abs=1e-6)
    assert sim.describe()["closed_loop"]["pushed_mm"] == 0.0


def test_retracting_past_the_sheath_holds_the_catheter_at_the_entry() -> None:
    sim, robot, clock = driven()
    sim.render(0)
    back_mm = arc(sim) + 20.0  # more than the catheter is in
    robot.handle(command(1, advance_mm_s=-back_mm), 0)
    clock.now = 1000 * MS
    frame = sim.render(1)
    assert arc(sim) == 0.0
    assert sim.tip.node == sim.nav.entry
    entry_xy = sim.nav.x[sim.nav.entry], sim.nav.y[sim.nav.entry]
    assert math.dist(frame.truth["tip_mm"], entry_xy) < 2.0  # drawn at the access point
    expected = along_tree_mm(sim.nav, sim.tip, sim.dist)
    assert frame.truth["nav"]["error_mm"] == pytest.approx(expected, abs=1e-3)
    assert frame.truth["nav"]["error_mm"] > sim.start_error_mm
    clock.now = 2000 * MS  # further back still: nothing moves
    sim.render(2)
    assert arc(sim) == 0.0


def test_the_path_counts_the_slide_back_to_the_sheath() -> None:
    sim, robot, clock = driven()
    sim.render(0)
    inside = arc(sim)
    robot.handle(command(1, advance_mm_s=-(inside + 20.0)), 0)
    clock.now = 1000 * MS
    sim.render(1)
    assert sim.describe()["closed_loop"]["path_mm"] == pytest.approx(inside, abs=0.01)


def test_the_robot_watchdog_halt_stops_the_catheter() -> None:
    sim, robot, clock = driven()
    sim.render(0)
    start = arc(sim)
    robot.handle(command(1, advance_mm_s=10.0), 0)
    event = robot.check(400 * MS)  # no message since 0: halted at the timeout
    assert event is not None
    clock.now = 1000 * MS
    halted = sim.render(1)
    stopped = arc(sim)
    assert stopped == pytest.approx(start + 10.0 * event.t_ns / 1e9)
    clock.now = 3000 * MS
    later = sim.render(2)
    assert arc(sim) == stopped
    assert halted.truth["nav"]["robot_halted"] and later.truth["nav"]["robot_halted"]
    loop = sim.describe()["closed_loop"]
    assert loop["robot"]["halts"] == 1 and len(loop["robot_halts"]) == 1
    assert "no feed message" in loop["robot_halts"][0]


def test_a_hold_message_stops_the_catheter_where_it_is() -> None:
    sim, robot, clock = driven()
    robot.handle(command(1, advance_mm_s=10.0), 0)
    clock.now = 200 * MS
    robot.handle(command(2, state="HOLD", advance_mm_s=10.0), clock.now)
    sim.render(0)
    held = arc(sim)
    clock.now = 1200 * MS
    robot.handle(command(3, state="HOLD"), clock.now)
    sim.render(1)
    assert arc(sim) == held


def test_a_frame_s_truth_has_the_target_and_the_loop_state() -> None:
    sim, _robot, _clock = driven()
    frame = sim.render(0)
    roadmap = sim.roadmap()
    assert math.dist(frame.truth["target_px"], roadmap.target_px) * sim.mm_per_px < SUCCESS_MM
    nav = frame.truth["nav"]
    assert set(nav) == {"error_mm", "reached", "force_n", "robot", "robot_halted"}
    assert nav["error_mm"] == pytest.approx(sim.start_error_mm, abs=1e-3)
    assert nav["error_mm"] > SUCCESS_MM and not nav["reached"]
    assert nav["robot"] == {"advance": 0.0, "rotate": 0.0}
    assert nav["robot_halted"]  # nothing heard yet
    assert frame.image.shape[:2] == SIZE


def test_describe_reports_the_closed_loop() -> None:
    sim, _robot, _clock = driven()
    sim.render(0)
    loop = sim.describe()["closed_loop"]
    assert set(loop) == {
        "target_node", "target_px", "success_mm", "reached", "reached_at_s", "start_error_mm",
        "final_error_mm", "closest_mm", "path_mm", "pushed_mm", "robot", "robot_halts",
    }  # fmt: skip
    assert loop["target_node"] == sim.target == sim.roadmap().target
    assert loop["success_mm"] == SUCCESS_MM
    assert (loop["reached"], loop["reached_at_s"], loop["robot_halts"]) == (False, None, [])
    assert loop["start_error_mm"] == loop["final_error_mm"] == loop["closest_mm"]


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_the_same_seed_gives_the_same_target_and_roadmap(seed: int) -> None:
    one = RobotFluoroSimulator(seed, size=SIZE)
    two = RobotFluoroSimulator(seed, size=SIZE)
    assert one.target == two.target
    assert one.roadmap().to_json() == two.roadmap().to_json()
    assert one.render(0).truth == two.render(0).truth


def test_different_seeds_give_different_patients() -> None:
    docs = [RobotFluoroSimulator(seed, size=SIZE).roadmap().to_json() for seed in (0, 3)]
    assert docs[0] != docs[1]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_the_target_lies_inside_the_field(seed: int) -> None:
    sim = RobotFluoroSimulator(seed, size=SIZE)
    frame = sim.render(0)
    h, w = SIZE
    x, y = frame.truth["target_px"]
    assert math.hypot(x - w / 2, y - h / 2) < min(h, w) / 2  # inside the round collimator
    assert sim.start_error_mm > SUCCESS_MM  # not there at the start
    assert sim.target in sim.nav.order  # reachable from the entry
