"""``orstream bench closed_loop``: the closed loop in simulation, the shipped navigation policy
against the scripted centerline controller and a straight-at-the-target law, with the
perception, the gate and the simulated robot of the demo.

Each run: :func:`~orstream.pipelines.run_closed_loop` on the robot-driven fluoroscope of one
seed (1024x1024 at 15 fps in real time, the ``fluoro`` pipeline's tracker as the perception,
the ``fluoro`` gate preset, a simulated operator who presses again a second after a HOLD)
until the catheter is within ``SUCCESS_MM`` of its target along the vessels, or 60 s of
frames. Per guidance over the seeds: success rate, time to the target (median of successes),
SPL (success x the route's length / max(route, path travelled)), final error, HOLDs of the
gate, runs that ended with the gate latched in STOP (three faults within 10 s: on a loaded
machine, stale frames) and the pipeline's latency p99; then the policy's figures as ratios
of the scripted controller's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np

from orstream.pipelines import GUIDANCES, ClosedLoopRun, run_closed_loop
from orstream.sim import SUCCESS_MM

from ._common import format_table, machine_stamp, ratio

SEEDS: Final = (1, 2, 3, 4)
QUICK_SEEDS: Final = (1,)
SIZE: Final = (1024, 1024)
QUICK_SIZE: Final = (256, 256)
FRAMES: Final = 900
"""60 s at 15 fps: the demo's duration."""
QUICK_FRAMES: Final = 150


def _row(run: ClosedLoopRun) -> dict[str, Any]:
    device, robot = run.device, run.summary.robot or {}
    route, path = device["start_error_mm"], device["path_mm"]
    holds = sum(n for key, n in robot.get("transitions", {}).items() if "->HOLD" in key)
    return {
        "seed": run.seed,
        "reached": bool(device["reached"]),
        "time_to_target_s": device["reached_at_s"],
        "spl": float(device["reached"]) * route / max(route, path, 1e-9),
        "start_error_mm": route,
        "final_error_mm": device["final_error_mm"],
        "path_mm": path,
        "holds": holds,
        "gate_at_end": robot.get("state"),
        "latency_p99_ms": run.summary.paths["live"]["latency_ms"]["p99"],
        "frames": run.frames,
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["time_to_target_s"] for r in rows if r["reached"]]
    return {
        "runs": len(rows),
        "success_rate": float(np.mean([r["reached"] for r in rows])),
        "time_to_target_s_median": float(np.median(times)) if times else None,
        "spl": float(np.mean([r["spl"] for r in rows])),
        "final_error_mm_median": float(np.median([r["final_error_mm"] for r in rows])),
        "holds": int(sum(r["holds"] for r in rows)),
        "stopped": int(sum(r["gate_at_end"] == "STOP" for r in rows)),
        "latency_p99_ms_max": float(max(r["latency_p99_ms"] for r in rows)),
    }


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every guidance of :data:`~orstream.pipelines.GUIDANCES` on :data:`SEEDS` (one small seed
    with ``quick``); ``duration_s``: the frame budget of a run in seconds (default 60)."""
    seeds, size = (QUICK_SEEDS, QUICK_SIZE) if quick else (SEEDS, SIZE)
    frames = QUICK_FRAMES if quick else FRAMES
    if duration_s is not None:
        frames = max(1, round(duration_s * 15.0))
    guidances: dict[str, Any] = {}
    for guidance in GUIDANCES:
        rows = []
        for seed in seeds:
            row = _row(run_closed_loop(seed, "fluoro", guidance=guidance, size=size, frames=frames))
            rows.append(row)
            if progress is not None:
                progress(f"{guidance} seed {seed}: {row}")
        guidances[guidance] = {"runs": rows, "summary": _summary(rows)}
    policy, scripted = guidances["shipped"]["summary"], guidances["scripted"]["summary"]
    return {
        "benchmark": "closed_loop",
        "machine": machine_stamp(),
        "settings": {
            "seeds": list(seeds),
            "size": list(size),
            "fps": 15.0,
            "frames_per_run": frames,
            "success_mm": SUCCESS_MM,
            "gate": "fluoro",
            "perception": "fluoro pipeline (fluoro-catheter ROI tracker)",
        },
        "guidances": guidances,
        "policy_vs_scripted": {
            "success_rate": ratio(policy["success_rate"], scripted["success_rate"]),
            "time_to_target": ratio(
                policy["time_to_target_s_median"], scripted["time_to_target_s_median"]
            ),
            "spl": ratio(policy["spl"], scripted["spl"]),
        },
    }


def _r(value: float | None, digits: int) -> float | None:
    """``value`` rounded for the table (None stays None: no successes)."""
    return None if value is None else round(value, digits)


def render(report: dict[str, Any]) -> str:
    """One row per guidance, then the policy's ratios to the scripted controller."""
    rows = []
    for name, doc in report["guidances"].items():
        s = doc["summary"]
        rows.append([name, s["runs"], _r(s["success_rate"], 2), _r(s["time_to_target_s_median"], 1),
                     _r(s["spl"], 2), _r(s["final_error_mm_median"], 1), s["holds"], s["stopped"],
                     _r(s["latency_p99_ms_max"], 1)])  # fmt: skip
    settings, vs = report["settings"], report["policy_vs_scripted"]
    header = ["guidance", "runs", "success", "time to target s (median)", "SPL",
              "final error mm (median)", "gate HOLDs", "runs ended in STOP",
              "latency p99 ms (worst run)"]  # fmt: skip
    ratios = ", ".join(f"{k} {'-' if v is None else f'{v:.2f}'}" for k, v in vs.items())
    return (
        f"closed loop, {settings['size'][0]} px at {settings['fps']:g} fps, seeds "
        f"{settings['seeds']}, {settings['frames_per_run']} frames per run at most\n"
        f"{format_table(header, rows)}\npolicy / scripted: {ratios}"
    )
