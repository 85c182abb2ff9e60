"""Baselines for ``orstream/CatheterNav-v0``: a scripted centerline follower with a PD law on the
tip roll, and a uniformly random policy. Both read the observation only (no simulator
internals), so they run on perceived state as a learned policy does.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..sim import BEND_RAD, NAV_OBS_LAYOUT, STEP_MM, STEP_RAD

F32 = npt.NDArray[np.float32]
_I = {name: i for i, name in enumerate(NAV_OBS_LAYOUT)}


class NavPolicy(Protocol):
    """A navigation policy: ``reset()`` at the start of an episode, then one action per
    observation (float32, 2: advance, rotate in [-1, 1])."""

    name: str

    def reset(self) -> None: ...

    def act(self, obs: F32) -> F32: ...


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


class ScriptedNavPolicy:
    """Centerline following with a PD law on the roll, as a roboticist would write it.

    Off the route: pull back. Within ``fork_lookahead_mm`` of a bifurcation: aim the tip bend
    at the child that leads to the target; elsewhere: follow the lumen's turn ahead. The roll
    that gives the wanted bend (``BEND_RAD * sin(roll)``, the nearer solution) is tracked by
    ``rotate = kp * err + kd * d(err)``. The tip advances only when its bend matches the
    lumen within what the lumen absorbs (slower as the mismatch grows), and stops short of a
    bifurcation until it is aligned with the child it wants.
    """

    name = "scripted"

    def __init__(self, kp: float = 1.0, kd: float = 0.3, fork_lookahead_mm: float = 5.0) -> None:
        self.kp, self.kd, self.lookahead = kp, kd, fork_lookahead_mm
        self._prev = 0.0

    def reset(self) -> None:
        self._prev = 0.0

    def _wanted_bend(self, obs: F32) -> tuple[float, bool]:
        """The bend to aim at, rad, and whether it is for an upcoming bifurcation."""
        to_fork_mm = float(obs[_I["to_fork"]]) * 20.0
        if to_fork_mm <= self.lookahead:
            for k in range(3):
                if obs[_I[f"kid{k}_to_target"]] > 0.5:
                    rel = math.atan2(float(obs[_I[f"kid{k}_sin"]]), float(obs[_I[f"kid{k}_cos"]]))
                    return max(-BEND_RAD, min(BEND_RAD, rel)), True
        return max(-BEND_RAD, min(BEND_RAD, float(obs[_I["turn_ahead"]]))), False

    def act(self, obs: F32) -> F32:
        roll = math.atan2(float(obs[_I["roll_sin"]]), float(obs[_I["roll_cos"]]))
        on_route = obs[_I["on_route"]] > 0.5
        want, at_fork = self._wanted_bend(obs) if on_route else (0.0, False)
        base = math.asin(max(-1.0, min(1.0, want / BEND_RAD)))
        goal = min((base, math.pi - base), key=lambda r: abs(_wrap(r - roll)))
        err = _wrap(goal - roll)
        rotate = (self.kp * err + self.kd * (err - self._prev)) / STEP_RAD
        self._prev = err
        bend_err = abs(BEND_RAD * math.sin(roll) - want)
        slack = 0.15 + 0.04 * 5.0 * float(obs[_I["radius"]])  # what the lumen absorbs, rad
        if not on_route:
            advance = -1.0
        elif bend_err > slack + 0.15:  # turn the tip first
            advance = 0.0
        else:
            advance = max(0.1, 1.0 - max(0.0, bend_err - slack) / 0.3)
            if abs(want) > 0.5:  # a sharp turn within a few mm: creep through it
                advance = min(advance, 0.35)
            advance = min(advance, float(obs[_I["to_target"]]) * 100.0 / STEP_MM)
        to_fork_mm = float(obs[_I["to_fork"]]) * 20.0
        if at_fork and bend_err > 0.2:  # not aligned with the child yet: stop short of the fork
            advance = min(advance, max(0.0, (to_fork_mm - 0.5) / STEP_MM))
        elif at_fork:  # aligned: enter the child by a little, then let the tip relax
            advance = min(advance, (to_fork_mm + 1.0) / STEP_MM)
        return np.clip(np.array([advance, rotate], dtype=np.float32), -1.0, 1.0)


class RandomNavPolicy:
    """Uniformly random actions in [-1, 1]^``action_size`` (seeded; 2 for CatheterNav)."""

    name = "random"
    action_size = 2

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        return None

    def act(self, obs: F32) -> F32:
        return self._rng.uniform(-1.0, 1.0, self.action_size).astype(np.float32)
