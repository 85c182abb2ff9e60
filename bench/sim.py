"""``orstream bench sim``: simulator speed, frames per second on one core, per modality.

Each case builds the simulator (timed), renders a few warm-up frames, then renders distinct
frame indices for the measurement's duration with OpenCV held to one thread. It reports frames
per CPU-second of this process (the one-core figure the goals are stated in) and per wall
second. No peer is measured: no package a user would install renders these modalities with
ground truth; the goals of the issue stand in for one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import cv2

from orstream.sim import make_simulator

from ._common import format_table, machine_stamp
from ._nav_steps import measure_nav

CASES: Final[tuple[tuple[str, str, dict[str, Any], float | None], ...]] = (
    ("echo-128", "echo", {"size": (128, 128)}, 500.0),
    ("echo-112", "echo", {"size": (112, 112)}, None),
    ("fluoro-1024", "fluoro", {"size": (1024, 1024)}, 60.0),
    ("us-256", "us", {"size": (256, 256)}, None),
)
"""(case name, modality, simulator options, goal in frames per CPU-second or None)."""
SEEDS: Final = (1, 2, 3)
_WARMUP_FRAMES: Final = 3


def _measure(
    modality: str, options: dict[str, Any], seed: int, duration_s: float
) -> dict[str, Any]:
    t0 = time.perf_counter()
    sim = make_simulator(modality, seed=seed, **options)
    build_s = time.perf_counter() - t0
    for index in range(_WARMUP_FRAMES):
        sim.render(index)
    frames = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < duration_s:
        sim.render(_WARMUP_FRAMES + frames * 7)  # distinct indices, spread over the cycle
        frames += 1
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"frames": frames, "cpu_s": cpu_s, "wall_s": wall_s, "build_s": build_s}


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every case of :data:`CASES` over :data:`SEEDS`; returns the report."""
    duration = duration_s if duration_s is not None else (0.2 if quick else 2.0)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    cases = []
    try:
        for name, modality, options, goal in CASES:
            runs = [_measure(modality, options, seed, duration) for seed in SEEDS]
            frames = sum(r["frames"] for r in runs)
            fps_cpu = frames / max(sum(r["cpu_s"] for r in runs), 1e-9)
            fps_wall = frames / max(sum(r["wall_s"] for r in runs), 1e-9)
            case = {
                "case": name,
                "modality": modality,
                "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
                "frames": frames,
                "fps_cpu": round(fps_cpu, 1),
                "fps_wall": round(fps_wall, 1),
                "build_s_max": round(max(r["build_s"] for r in runs), 3),
                "goal_fps": goal,
                "goal_met": None if goal is None else fps_cpu >= goal,
            }
            cases.append(case)
            if progress is not None:
                progress(f"{name:12} {fps_cpu:8.1f} frames/CPU-s {fps_wall:8.1f} frames/s")
    finally:
        cv2.setNumThreads(threads)
    return {
        "benchmark": "sim",
        "machine": machine_stamp(),
        "settings": {"duration_s": duration, "seeds": list(SEEDS), "opencv_threads": 1},
        "peer": "none: no installable package renders these modalities with ground truth",
        "cases": cases,
        "nav": measure_nav(duration),
        "errors": [],
    }


def render(report: dict[str, Any]) -> str:
    """The report as a table for people."""
    rows = [
        [
            c["case"],
            c["fps_cpu"],
            c["fps_wall"],
            c["build_s_max"],
            "-" if c["goal_fps"] is None else f">= {c['goal_fps']:g}",
            "-" if c["goal_met"] is None else ("met" if c["goal_met"] else "MISSED"),
        ]
        for c in report["cases"]
    ]
    header = ["case", "frames/CPU-s", "frames/s", "build s", "goal", "result"]
    m = report["machine"]
    nav = report.get("nav", {}).get("cases", [])
    nav_rows = [
        [c["case"], c["steps_per_cpu_s"], c["steps_per_s"], c["ms_per_step_cpu"],
         "-" if c["goal_ms"] is None else f"<= {c['goal_ms']:g} ms",
         "-" if c["goal_met"] is None else ("met" if c["goal_met"] else "MISSED")]
        for c in nav
    ]  # fmt: skip
    nav_header = ["env case", "steps/CPU-s", "steps/s", "ms/step", "goal", "result"]
    return (
        f"orstream bench sim ({m['date']}; {m['cpu']}, {m['cores']} cores; one OpenCV thread)\n"
        + format_table(header, rows)
        + ("\n" + format_table(nav_header, nav_rows) if nav_rows else "")
    )
