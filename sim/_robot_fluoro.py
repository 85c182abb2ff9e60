"""Fluoroscopy of a catheter that a robot moves: the device side of the closed loop
(``orstream sim publish --modality fluoro --robot FEED``; docs/robot-feed.md, "Closed loop").

:class:`RobotFluoroSimulator` draws the :class:`FluoroSimulator`'s patient as navigation under
a stored roadmap sees it (breath held, no contrast injection) with the catheter where the
robot's axes put it: a :class:`SimRobot` on the feed moves ``advance`` (mm) and ``rotate``
(rad), and the tip slides along the simulator's own vessel tree by the kinematics of
``orstream/CatheterNav-v0`` (the tip's pre-curve picks the branch at each bifurcation). Each
frame takes the robot's pose when it is rendered. :meth:`roadmap` is the tree and target the
engine navigates by.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._fluoro import FluoroSimulator
from ._nav_anatomy import target_candidates
from ._nav_obs import along_tree_mm
from ._nav_roadmap import NavRoadmap
from ._nav_spec import ADVANCE_MM_S, START_MM, SUCCESS_MM
from ._nav_tree import BEND_RAD, NavTree
from ._protocol import SimFrame
from ._robot import SimRobot

FIELD_FRACTION = 0.4
"""The field: within this fraction of the image size from its centre (inside the collimator)."""
MIN_ROUTE_MM = 60.0
"""Shortest route inside the field from where the catheter starts to its target, mm."""
START_IN_FIELD_MM = 3.0
"""The catheter starts this far past the point where its route enters the field, mm."""


def _in_field(nav: NavTree, node: int, size: tuple[int, int], mm_per_px: float) -> bool:
    h, w = size
    dx, dy = nav.x[node] / mm_per_px - w / 2, nav.y[node] / mm_per_px - h / 2
    return math.hypot(dx, dy) < FIELD_FRACTION * min(h, w)


def _field_entry(nav: NavTree, route: list[int], seen: set[int]) -> int | None:
    """Index in ``route`` from which every node is in the field ``seen`` (None: never)."""
    k = len(route)
    while k > 0 and route[k - 1] in seen:
        k -= 1
    return k if k < len(route) else None


def _draw_target(
    nav: NavTree, size: tuple[int, int], mm_per_px: float, rng: np.random.Generator
) -> int:
    """A target node whose route, once it enters the field, stays in it for at least
    ``MIN_ROUTE_MM``, from the nearer half of such nodes (a demo reaches it within a minute
    at the gate's speed)."""
    seen = {a for a in nav.order if _in_field(nav, a, size, mm_per_px)}
    ok = []
    for a in target_candidates(nav):
        route = nav.path_to(a)
        k = _field_entry(nav, route, seen)
        if k is not None and nav.arc_mm[a] - nav.arc_mm[route[k]] >= MIN_ROUTE_MM:
            ok.append(a)
    if not ok:
        return max(nav.order, key=lambda a: nav.arc_mm[a])
    ok.sort(key=lambda a: nav.arc_mm[a])
    near = ok[: max(1, len(ok) // 2)]
    return int(near[int(rng.integers(len(near)))])


def _start_arc(nav: NavTree, target: int, size: tuple[int, int], mm_per_px: float) -> float:
    """Where the catheter starts, mm from the entry: ``START_IN_FIELD_MM`` past the point where
    the route enters the field (an operator has brought it there by hand), at least
    ``START_MM``, and at most a quarter of the way to the target when the route never leaves
    the field."""
    route = nav.path_to(target)
    seen = {a for a in route if _in_field(nav, a, size, mm_per_px)}
    k = _field_entry(nav, route, seen)
    enters = nav.arc_mm[route[k]] if k is not None else 0.0
    if enters <= 0.0:
        return min(START_MM, 0.25 * nav.arc_mm[target])
    return max(START_MM, enters + START_IN_FIELD_MM)


class RobotFluoroSimulator:
    """Frames of ``FluoroSimulator(seed, fps, size, anatomy)`` with a robot-driven catheter.

    ``robot``: the :class:`SimRobot` whose pose moves the catheter (``None``: a robot with no
    feed, which never moves; give one with an endpoint and :meth:`SimRobot.start` it for a
    live loop). The target is drawn from the seed among the tree's reachable branch nodes
    inside the field. Render frames in order: the catheter moves between calls.
    """

    modality = "fluoro"
    render_when_due = True
    """Render a frame when it is due, not ahead: the catheter moves until then."""

    def __init__(
        self,
        seed: int = 0,
        *,
        fps: float = 15.0,
        size: tuple[int, int] = (1024, 1024),
        anatomy: str = "hepatic",
        robot: SimRobot | None = None,
    ) -> None:
        self.sim = FluoroSimulator(
            seed,
            fps=fps,
            size=size,
            anatomy=anatomy,
            use_real_centerlines=False,
            breath_hold=True,
            contrast=False,
        )
        self.fps: float = self.sim.fps
        self.spacing_mm: tuple[float, float] = self.sim.spacing_mm
        self.geometry: dict[str, Any] = self.sim.geometry
        self.label_names: tuple[str, ...] = self.sim.label_names
        self.mm_per_px = self.sim.spacing_mm[0]
        self.nav = nav = NavTree(self.sim.tree, self.mm_per_px)
        rng = np.random.default_rng([seed, 0x20B07])
        self.target = _draw_target(nav, self.sim.size, self.mm_per_px, rng)
        self.dist = nav.distances_from(self.target)
        route = nav.path_to(self.target)
        self.tip = nav.place(route, _start_arc(nav, self.target, self.sim.size, self.mm_per_px))
        self.robot = robot if robot is not None else SimRobot(None)
        self._axes = {"advance": 0.0, "rotate": 0.0}
        self.path_mm = self.force_n = 0.0
        self.pushed_mm = 0.0
        self.start_error_mm = self.error_mm = along_tree_mm(nav, self.tip, self.dist)
        self.closest_mm = self.error_mm
        self.reached_at_s: float | None = None
        self.frames = 0

    def roadmap(self) -> NavRoadmap:
        """The vessel tree (frame px, at rest) and the target the engine navigates by."""
        return NavRoadmap(self.sim.tree, self.mm_per_px, self.target)

    def _move(self, pose: Mapping[str, float]) -> None:
        """Slide the tip by the robot's motion since the last frame (advance mm, rotate rad)."""
        nav, tip = self.nav, self.tip
        advance, roll = float(pose.get("advance", 0.0)), float(pose.get("rotate", 0.0))
        step = advance - self._axes["advance"]
        self._axes = {"advance": advance, "rotate": roll}
        bend = BEND_RAD * math.sin(roll)
        pushed, before = 0.0, nav.tip_arc(tip)
        if step > 0:
            pushed = nav.advance(tip, step, bend)
        elif step < 0 and not nav.retract(tip, -step):
            step = -before  # held at the sheath: the catheter cannot leave through it
        self.pushed_mm += pushed
        self.path_mm += abs(step) - pushed
        self.force_n = nav.contact_force(tip, bend, step, ADVANCE_MM_S / self.fps) + 0.5 * pushed

    def _catheter_px(self) -> Any:
        """The catheter from the tip back to the entry and out along the access route, px."""
        nav, tip = self.nav, self.tip
        chain = [nav.tip_xy(tip)] + [(nav.x[a], nav.y[a]) for a in nav.path_to(tip.node)[-2::-1]]
        inside = np.asarray(chain, dtype=np.float64) / self.mm_per_px
        return np.vstack([inside, np.asarray(self.sim.tree.entry, dtype=np.float64)[::-1]])

    def render(self, index: int) -> SimFrame:
        """Frame ``index`` with the catheter where the robot has moved it by now."""
        self._move(self.robot.pose())
        self.sim.set_catheter(self._catheter_px())
        frame = self.sim.render(index)
        self.frames += 1
        self.error_mm = along_tree_mm(self.nav, self.tip, self.dist)
        self.closest_mm = min(self.closest_mm, self.error_mm)
        if self.reached_at_s is None and self.error_mm <= SUCCESS_MM:
            self.reached_at_s = frame.t_s
        m = np.asarray(frame.truth["motion_px"], dtype=np.float64)
        target = m[:, :2] @ np.asarray(self.roadmap().target_px) + m[:, 2]
        frame.truth["target_px"] = [float(target[0]), float(target[1])]
        frame.truth["nav"] = {
            "error_mm": round(self.error_mm, 3),
            "reached": self.reached_at_s is not None,
            "force_n": round(self.force_n, 4),
            "robot": {k: round(v, 4) for k, v in self._axes.items()},
            "robot_halted": self.robot.halted,
        }
        return frame

    def describe(self) -> dict[str, Any]:
        """The simulator's truth and the closed loop's outcome so far (``closed_loop``)."""
        doc = self.sim.describe()
        doc["closed_loop"] = {
            "target_node": self.target,
            "target_px": [round(v, 2) for v in self.roadmap().target_px],
            "success_mm": SUCCESS_MM,
            "reached": self.reached_at_s is not None,
            "reached_at_s": self.reached_at_s,
            "start_error_mm": round(self.start_error_mm, 2),
            "final_error_mm": round(self.error_mm, 2),
            "closest_mm": round(self.closest_mm, 2),
            "path_mm": round(self.path_mm, 2),
            "pushed_mm": round(self.pushed_mm, 2),
            "robot": self.robot.stats(),
            "robot_halts": [h.reason for h in self.robot.halts],
        }
        return doc
