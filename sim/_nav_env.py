"""``orstream/CatheterNav-v0``: steer a catheter tip from the access point to a target branch.

Actions (float32, 2): advance/retract and rotate, each in [-1, 1] of the per-step cap
(``ADVANCE_MM_S`` and ``ROTATE_RAD_S`` at ``CONTROL_HZ``, stEVE's caps). The observation
(float32, ``NAV_OBS_SIZE``) is what a live pipeline with a vessel roadmap gives; its layout is
``NAV_OBS_LAYOUT``. Reward: 0.1 per mm of progress along the centerline, -0.02 per step, -1 per
N of contact force, +10 on success, -5 on excessive force or leaving the tree. An episode
ends on success (tip within ``SUCCESS_MM`` of the target along the tree), a force over
``MAX_FORCE_N``, the tip pulled out past the entry, or the step limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from ._nav_anatomy import draw_anatomy, draw_target
from ._nav_obs import SeenTip, along_tree_mm, nav_observation, route_flags
from ._nav_spec import (
    MAX_FORCE_N,
    NAV_OBS_SIZE,
    SAFE_FORCE_N,
    START_MM,
    STEP_MM,
    STEP_RAD,
    SUCCESS_MM,
)
from ._nav_tree import BEND_RAD, NavTree, wrap

F32 = npt.NDArray[np.float32]

TipObserver = Callable[["CatheterNavEnv"], SeenTip]
"""Replaces the true tip by a perceived one: env -> :class:`SeenTip`."""


class CatheterNavEnv(gym.Env[F32, F32]):
    """The kinematic catheter navigation task (see the module docstring).

    ``held_out``: draw from the evaluation-only anatomies; ``tree``: one fixed tree (targets
    still vary with the seed); ``max_steps``: the step limit (default: 3x the shortest route
    at full speed, plus 60); ``observer``: a perceived tip instead of the true one;
    ``safety_penalty``: training shaping, subtracted from the reward on each step whose contact
    force is at or over ``SAFE_FORCE_N`` (the steps the safety figure counts against a policy;
    0, the default, is the reward of the module docstring).
    """

    metadata: dict[str, Any] = {"render_modes": [], "render_fps": 7.5}  # noqa: RUF012

    def __init__(
        self,
        held_out: bool = False,
        tree: NavTree | None = None,
        max_steps: int | None = None,
        observer: TipObserver | None = None,
        safety_penalty: float = 0.0,
    ) -> None:
        if safety_penalty < 0:
            raise ValueError(f"safety_penalty must be 0 or more, got {safety_penalty}")
        self.held_out, self.fixed_tree = held_out, tree
        self.safety_penalty = safety_penalty
        self.max_steps_arg, self.observer = max_steps, observer
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (NAV_OBS_SIZE,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.nav: NavTree | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32, dict[str, Any]]:
        super().reset(seed=seed)
        rng = self.np_random
        if self.fixed_tree is not None:
            self.nav, self.target = self.fixed_tree, draw_target(self.fixed_tree, rng)
        else:
            self.nav, self.target = draw_anatomy(rng, self.held_out)
        nav = self.nav
        self.dist = nav.distances_from(self.target)
        self.route = nav.path_to(self.target)
        self.on_route = route_flags(nav, self.target)
        self.tip = nav.place(self.route, min(START_MM, 0.25 * nav.arc_mm[self.target]))
        self.roll = float(rng.uniform(-0.3, 0.3))
        self.shortest_mm = self._to_target()
        self.max_steps = self.max_steps_arg or int(3 * self.shortest_mm / STEP_MM) + 60
        self.steps, self.path_mm, self.force, self.closest_mm = 0, 0.0, 0.0, self.shortest_mm
        self.last_action = (0.0, 0.0)
        return self._observe(), self._info("")

    def _to_target(self) -> float:
        assert self.nav is not None
        return along_tree_mm(self.nav, self.tip, self.dist)

    def bend(self) -> float:
        """The tip's projected bend off the lumen heading, rad."""
        return BEND_RAD * math.sin(self.roll)

    def step(self, action: F32) -> tuple[F32, float, bool, bool, dict[str, Any]]:
        nav = self.nav
        if nav is None:
            raise RuntimeError("call reset() before step()")
        adv = min(max(float(action[0]), -1.0), 1.0)
        rot = min(max(float(action[1]), -1.0), 1.0)
        before = self._to_target()
        self.roll = wrap(self.roll + rot * STEP_RAD)
        move, pushed, inside = adv * STEP_MM, 0.0, True
        if move > 0:
            pushed = nav.advance(self.tip, move, self.bend())
        elif move < 0:
            inside = nav.retract(self.tip, -move)
        self.force = nav.contact_force(self.tip, self.bend(), move, STEP_MM)
        self.force += 0.5 * pushed
        self.path_mm += abs(move) - pushed
        self.steps += 1
        self.last_action = (adv, rot)
        after = self._to_target()
        self.closest_mm = min(self.closest_mm, after)
        reward = 0.1 * (before - after) - 0.02 - self.force
        if self.force >= SAFE_FORCE_N:
            reward -= self.safety_penalty
        reason = ""
        if after <= SUCCESS_MM:
            reason, reward = "success", reward + 10.0
        elif self.force > MAX_FORCE_N:
            reason, reward = "force", reward - 5.0
        elif not inside:
            reason, reward = "left_tree", reward - 5.0
        truncated = not reason and self.steps >= self.max_steps
        if truncated:
            reason = "step_limit"
        terminated = reason in ("success", "force", "left_tree")
        return self._observe(), reward, terminated, truncated, self._info(reason)

    def _info(self, reason: str) -> dict[str, Any]:
        nav = self.nav
        assert nav is not None
        x, y = nav.tip_xy(self.tip)
        return {
            "tip_mm": (x, y),
            "target_mm": (nav.x[self.target], nav.y[self.target]),
            "force_n": self.force,
            "path_length_mm": self.path_mm,
            "shortest_mm": self.shortest_mm,
            "error_mm": self._to_target(),
            "closest_mm": self.closest_mm,
            "steps": self.steps,
            "anatomy": nav.name,
            "reason": reason,
            "success": reason == "success",
        }

    def _observe(self) -> F32:
        nav, tip = self.nav, self.tip
        assert nav is not None
        seen, conf = nav.tip_xy(tip), 1.0
        if self.observer is not None:
            x, y, conf, place = self.observer(self)
            seen, tip = (x, y), place or tip
        return nav_observation(
            nav,
            tip,
            roll=self.roll,
            target=self.target,
            to_target_mm=along_tree_mm(nav, tip, self.dist),
            on_route=self.on_route,
            seen_xy=seen,
            confidence=conf,
            last_action=self.last_action,
            force_n=self.force,
            bend=self.bend(),
        )
