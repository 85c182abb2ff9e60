"""``orstream bench overhead``: what the pipeline framework costs per frame, against Holoscan.

The same graph on every side: a source of in-memory frames (a 128x128 uint8 array with a
small header, as an echo frame), N identity stages (each hands its frame on unchanged), a
sink that keeps nothing; N = 1 and 5, one thread, no I/O. The time per frame is between the
sink's first and last frame (start-up excluded), so it is the framework's own cost.

- ``orstream``: ``Pipeline(IterableSource(frames), [Identity()] * N, [sink], live=False)``:
  each stage stamps the frame's trace, the path's statistics (latency, per-stage time) are
  kept, as in every run.
- ``plain loop``: ``for stage in stages: frame = stage(frame)`` then the sink: the floor any
  Python framework sits on.
- ``holoscan``: NVIDIA Holoscan's Python API, ``Application.compose`` with ``add_flow``, the
  default greedy scheduler, operators ``compute()`` receiving and emitting a Python object
  (:mod:`orstream.bench._holoscan_graph`), in a separate process: with the interpreter named by
  ``ORSTREAM_HOLOSCAN_PYTHON``, else this one, else :data:`SCRATCH_PYTHON`, the first that
  imports Holoscan. When none does the report says so, with each reason; no figure is made up.

The per-stage cost is (time at N=5 - time at N=1) / 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from ._common import format_table, machine_stamp, ratio

STAGE_COUNTS: Final = (1, 5)
DEFAULT_FRAMES: Final = 20_000
QUICK_FRAMES: Final = 1_000
REPEATS: Final = 3
"""Each figure is the best of this many runs (the least disturbed by other work)."""
SCRATCH_PYTHON: Final = "/tmp/hsvenv/bin/python"
"""Where the documented scratch environment puts its interpreter (docs/benchmarks/overhead.md)."""
HOLOSCAN_ENV: Final = "ORSTREAM_HOLOSCAN_PYTHON"
_GRAPH_SCRIPT: Final = Path(__file__).with_name("_holoscan_graph.py")
_HOLOSCAN_TIMEOUT_S: Final = 300.0


class Identity:
    """A stage that hands its frame on unchanged."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, frame: Any) -> Any:
        return frame


class _TimingSink:
    """Notes when each frame arrives (perf_counter s); keeps nothing else."""

    name = "timing"

    def __init__(self) -> None:
        self.times: list[float] = []

    def write(self, frame: Any) -> None:
        self.times.append(time.perf_counter())

    def close(self) -> None:
        pass


def _frames(n: int) -> list[Any]:
    from orstream.stream import make_frame

    pixels = np.zeros((128, 128), np.uint8)  # shared: the frames differ in their header only
    t0 = time.time_ns()
    return [make_frame(pixels, "bench", i, t_capture_ns=t0 + i, modality="echo") for i in range(n)]


def _per_frame_us(times: list[float]) -> float:
    return (times[-1] - times[0]) / (len(times) - 1) * 1e6


def measure_ours(stages: int, frames: int) -> float:
    """Microseconds per frame through our Pipeline with ``stages`` identity stages."""
    from orstream.stream import IterableSource, Pipeline

    sink = _TimingSink()
    steps = [Identity(f"identity{k}") for k in range(stages)]
    Pipeline(IterableSource(_frames(frames)), steps, [sink], live=False).run()
    return _per_frame_us(sink.times)


def measure_plain(stages: int, frames: int) -> float:
    """Microseconds per frame through a plain Python loop over the same stages."""
    sink = _TimingSink()
    steps = [Identity(f"identity{k}") for k in range(stages)]
    for received in _frames(frames):
        frame = received
        for step in steps:
            frame = step(frame)
        sink.write(frame)
    return _per_frame_us(sink.times)


def holoscan_candidates() -> list[str]:
    """The interpreters tried for Holoscan, in order: ``$ORSTREAM_HOLOSCAN_PYTHON``, this one,
    :data:`SCRATCH_PYTHON` (each once)."""
    candidates = [os.environ.get(HOLOSCAN_ENV), sys.executable, SCRATCH_PYTHON]
    return list(dict.fromkeys(c for c in candidates if c))


def find_holoscan() -> tuple[str | None, dict[str, Any]]:
    """(an interpreter that imports Holoscan, its probe) or (None, {"why": reasons})."""
    reasons = []
    for python in holoscan_candidates():
        if not Path(python).exists():
            reasons.append(f"{python}: not found")
            continue
        probe = _run_graph(python, ["--probe"])
        if "error" not in probe:
            return python, probe
        reasons.append(f"{python}: {probe['error']}")
    return None, {"why": reasons}


def _run_graph(python: str, args: list[str]) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [python, str(_GRAPH_SCRIPT), *args],
            capture_output=True, text=True, timeout=_HOLOSCAN_TIMEOUT_S, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Each side at N = 1 and 5 identity stages, best of :data:`REPEATS` runs of 20,000 frames
    (1,000 with ``quick``); ``duration_s`` is not used."""
    frames = QUICK_FRAMES if quick else DEFAULT_FRAMES
    repeats = 1 if quick else REPEATS
    machine = machine_stamp()
    python, probe = find_holoscan()
    if progress is not None:
        progress(
            f"holoscan {probe.get('version')} with {python}"
            if python
            else "holoscan unavailable: " + "; ".join(probe["why"])
        )
    cases = []
    errors: list[str] = []
    for n in STAGE_COUNTS:
        ours = min(measure_ours(n, frames) for _ in range(repeats))
        plain = min(measure_plain(n, frames) for _ in range(repeats))
        case: dict[str, Any] = {
            "stages": n,
            "orstream_us": round(ours, 3),
            "plain_loop_us": round(plain, 3),
            "holoscan_us": None,
        }
        if python is not None:
            runs = [_run_graph(python, ["--stages", str(n), "--frames", str(frames)])
                    for _ in range(repeats)]  # fmt: skip
            good = [r["per_frame_us"] for r in runs if "per_frame_us" in r]
            if good:
                case["holoscan_us"] = min(good)
            else:
                case["holoscan_error"] = runs[-1].get("error", "no figure")
                errors.append(f"holoscan at {n} stages: {case['holoscan_error']}")
        case["ratio_to_holoscan"] = ratio(ours, case["holoscan_us"])
        case["ratio_to_plain_loop"] = ratio(ours, plain)
        cases.append(case)
        if progress is not None:
            progress(
                f"{n} stage(s): orstream {case['orstream_us']} us, plain loop "
                f"{case['plain_loop_us']} us, holoscan {case['holoscan_us']} us per frame"
            )
    first, last = cases[0], cases[-1]
    span = last["stages"] - first["stages"]

    def per_stage(key: str) -> float | None:
        a, b = first[key], last[key]
        return None if a is None or b is None else round((b - a) / span, 3)

    return {
        "benchmark": "overhead",
        "machine": {**machine, "load_avg_1m_end": machine_stamp()["load_avg_1m"]},
        "settings": {
            "frames": frames,
            "repeats": repeats,
            "stage_counts": list(STAGE_COUNTS),
            "frame": "128x128 uint8 in memory, shared pixels",
            "threads": 1,
        },
        "holoscan": {
            "available": python is not None,
            "python": python,
            "version": probe.get("version"),
            "why_unavailable": None if python else probe["why"],
            "scheduler": "greedy (default), one thread",
        },
        "cases": cases,
        "per_stage_us": {
            "orstream": per_stage("orstream_us"),
            "plain_loop": per_stage("plain_loop_us"),
            "holoscan": per_stage("holoscan_us"),
        },
        "errors": errors,
    }


def render(report: dict[str, Any]) -> str:
    """One row per stage count, the per-stage cost, and Holoscan's status."""
    rows = [
        [c["stages"], c["orstream_us"], c["plain_loop_us"], c["holoscan_us"],
         c["ratio_to_holoscan"], c["ratio_to_plain_loop"]]
        for c in report["cases"]
    ]  # fmt: skip
    per = report["per_stage_us"]
    rows.append(["per stage", per["orstream"], per["plain_loop"], per["holoscan"], "", ""])
    m, h = report["machine"], report["holoscan"]
    header = ["identity stages", "orstream us/frame", "plain loop", "holoscan",
              "orstream / holoscan", "orstream / plain"]  # fmt: skip
    status = (
        f"holoscan {h['version']} ({h['python']}, {h['scheduler']})"
        if h["available"]
        else "holoscan unavailable: " + "; ".join(h["why_unavailable"])
    )
    return "\n".join(
        [
            f"orstream bench overhead ({m['date']}; {m['cpu']}, load {m['load_avg_1m']})",
            format_table(header, rows),
            status,
        ]
    )
