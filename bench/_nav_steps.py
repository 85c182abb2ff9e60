"""Environment steps per second of ``orstream/CatheterNav-v0`` (part of ``orstream bench sim``).

Cases: the bare environment (one core, no rendering: the issue's goal is <= 0.5 ms a step),
the same through ``gymnasium.make``'s wrappers, 8 copies in a
``gymnasium.vector.SyncVectorEnv`` (steps counted per environment), and one with perception in
the loop (each step rendered as a 512 px fluoroscopy frame and the tip tracked by the shipped
fluoro-catheter model, one thread). Steps are timed apart from
resets (a reset draws a new anatomy: ``ms_per_reset_cpu``); the vector case includes them.
Needs gymnasium (the ``train`` extra); without it the section is empty and says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from orstream.sim import NAV_ENV_IDS, make_nav_env

from ._probe_steps import measure_probe

GOAL_MS_PER_STEP = 0.5
"""The issue's goal for one environment step without rendering on one core, ms."""


def _single(env: Any, duration_s: float) -> tuple[int, float, float]:
    """Steps, CPU s and wall s spent in ``step`` alone (resets are timed apart)."""
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (1024, 2)).astype(np.float32) * [0.3, 1.0]
    env.reset(seed=0)
    steps, cpu_s, wall_s = 0, 0.0, 0.0
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(64):
            _, _, term, trunc, _ = env.step(actions[steps % 1024])
            steps += 1
            if term or trunc or time.perf_counter() > end:
                break
        cpu_s += time.process_time() - cpu0
        wall_s += time.perf_counter() - wall0
        if term or trunc:
            env.reset()
    return steps, cpu_s, wall_s


def _resets(env: Any, count: int) -> float:
    """CPU ms per reset (a new anatomy and target), after one warm-up reset."""
    env.reset(seed=1)
    cpu0 = time.process_time()
    for _ in range(count):
        env.reset()
    return 1000.0 * (time.process_time() - cpu0) / count


def _vector(n: int, duration_s: float) -> tuple[int, float, float]:
    import gymnasium

    env = gymnasium.vector.SyncVectorEnv([lambda: make_nav_env(NAV_ENV_IDS[0])] * n)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (64, n, 2)).astype(np.float32) * [0.3, 1]
    steps = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < duration_s:
        env.step(actions[(steps // n) % 64])
        steps += n
    env.close()
    return steps, time.process_time() - cpu0, time.perf_counter() - wall0


def _perceiving() -> Any:
    """The environment with the tip tracked on rendered frames (``PerceivedTip``), warm."""
    from orstream.policies import PerceivedTip

    env = make_nav_env(NAV_ENV_IDS[0], held_out=True, observer=PerceivedTip())
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))  # the renderer and the model's first run
    return env


def measure_nav(duration_s: float) -> dict[str, Any]:
    """Steps per CPU-second and per wall second of each case; ``error`` when it cannot run."""
    try:
        bare = make_nav_env(NAV_ENV_IDS[0])
    except ImportError as exc:
        return {"cases": [], "error": str(exc)}
    bare.reset(seed=0)
    cases = []
    runs: dict[str, Callable[[], tuple[int, float, float]]] = {
        "nav-bare": lambda: _single(bare.unwrapped, duration_s),
        "nav-wrapped": lambda: _single(bare, duration_s),
        "nav-vector-8": lambda: _vector(8, duration_s),
        "nav-perception": lambda: _single(_perceiving(), duration_s),
    }
    for name, measure in runs.items():
        steps, cpu_s, wall_s = measure()
        ms = 1000.0 * cpu_s / max(steps, 1)
        goal = GOAL_MS_PER_STEP if name == "nav-bare" else None
        cases.append(
            {
                "case": name,
                "steps": steps,
                "steps_per_cpu_s": round(steps / max(cpu_s, 1e-9), 1),
                "steps_per_s": round(steps / max(wall_s, 1e-9), 1),
                "ms_per_step_cpu": round(ms, 4),
                "goal_ms": goal,
                "goal_met": None if goal is None else ms <= goal,
            }
        )
    cases += measure_probe(duration_s)
    return {
        "cases": cases,
        "ms_per_reset_cpu": round(_resets(bare.unwrapped, 20), 2),
        "error": None,
        "rendering": "nav-perception: 512 px frames and the tip tracker; probe-v1-perception: "
        "112 px B-mode frames and echo-lv; the other probe-*: the label map; the others none",
    }
