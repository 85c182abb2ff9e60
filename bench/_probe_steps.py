"""Environment steps per second of ``orstream/ProbeNav-v0`` and ``-v1`` (rows of ``orstream bench
sim``'s environment table).

Cases: the bare v0 environment at the default 96 px label map and at 64 px, v1 (its 6-frame
history) at 96 px, and v1 with perception in the loop (``probe-v1-perception``: each step a
112 px B-mode frame rendered and segmented by echo-lv, ``orstream.policies.ProbePerception``),
one core. Every other step renders the label map its observation is computed from (no B-mode
image), so no case is "without rendering" and none is held to the CatheterNav goal. Steps are
timed apart from resets (a reset builds a new phantom).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from orstream.sim import PROBE_ENV_IDS, PROBE_STEP_CAPS, make_nav_env


def _steps(env: Any, duration_s: float) -> tuple[int, float, float]:
    """Steps, CPU s and wall s spent in ``step`` alone, random actions."""
    actions = np.random.default_rng(0).uniform(-1, 1, (1024, len(PROBE_STEP_CAPS)))
    actions = actions.astype(np.float32)
    env.reset(seed=0)
    steps, cpu_s, wall_s = 0, 0.0, 0.0
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        _, _, term, trunc, _ = env.step(actions[steps % 1024])
        cpu_s += time.process_time() - cpu0
        wall_s += time.perf_counter() - wall0
        steps += 1
        if term or trunc:
            env.reset()
    return steps, cpu_s, wall_s


def measure_probe(duration_s: float) -> list[dict[str, Any]]:
    """One row per case (the keys of ``measure_nav``'s cases); empty without gymnasium."""
    rows = []
    cases = (
        ("probe-96px", PROBE_ENV_IDS[0], 96),
        ("probe-64px", PROBE_ENV_IDS[0], 64),
        ("probe-v1-96px", PROBE_ENV_IDS[1], 96),
        ("probe-v1-perception", PROBE_ENV_IDS[1], 96),
    )
    for case, env_id, size in cases:
        try:
            observer = None
            if case.endswith("perception"):
                from orstream.policies import ProbePerception

                observer = ProbePerception()
            env = make_nav_env(env_id, size=size, observer=observer)
        except ImportError:
            return []
        steps, cpu_s, wall_s = _steps(env.unwrapped, duration_s)
        rows.append(
            {
                "case": case,
                "steps": steps,
                "steps_per_cpu_s": round(steps / max(cpu_s, 1e-9), 1),
                "steps_per_s": round(steps / max(wall_s, 1e-9), 1),
                "ms_per_step_cpu": round(1000.0 * cpu_s / max(steps, 1), 4),
                "goal_ms": None,
                "goal_met": None,
            }
        )
    return rows
