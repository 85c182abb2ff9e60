"""``orstream bench tracking``: catheter-tip tracking on 1024 x 1024 fluoroscopy, frames/s and
tip error, ROI tracking against the whole frame on every frame and against torch eager.

Fresh simulator runs (seeds no split of the model used), rendered beforehand so only tracking
is timed. Variants, all with the shipped fluoro-catheter model on one set of frames:

- ``roi``: :class:`~orstream.kernels.RoiTipTracker` with ONNX Runtime (the engine's path);
- ``whole-frame``: the same tracker with ROI tracking off (search and refine on every frame);
- ``torch-roi``: the ROI tracker on the torch eager backend (the reference runtime).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from orstream.kernels import RoiTipTracker, available_backends, load_backend
from orstream.sim import fluoro_run

from ._common import format_table, machine_stamp, ratio

FIRST_SEED: Final = 6_600_000
"""Above the fluoro-catheter test seeds (6,000,000+) and the unit tests (6,500,000)."""
THREADS: Final = 2


def _frames(runs: int, frames: int) -> list[tuple[list[Any], list[list[float]], float, float]]:
    out = []
    for j in range(runs):
        sim = fluoro_run(FIRST_SEED + j)
        rendered = [sim.render(i) for i in range(frames)]
        out.append(
            (
                [f.image for f in rendered],
                [f.truth["tip_px"] for f in rendered],
                sim.spacing_mm[0],
                sim.fps,
            )
        )
    return out


def _track(backend: Any, use_roi: bool, data: list[Any]) -> dict[str, Any]:
    errors, seconds, runs_per_frame = [], [], []
    for images, tips, spacing, fps in data:
        tracker = RoiTipTracker(backend, use_roi=use_roi)
        for k, (image, tip) in enumerate(zip(images, tips, strict=True)):
            t0 = time.perf_counter()
            est = tracker.step(image, k / fps)
            seconds.append(time.perf_counter() - t0)
            runs_per_frame.append(est.model_runs)
            err = math.hypot(est.x_px - tip[0], est.y_px - tip[1]) if est.found else math.inf
            errors.append(err * spacing)
    err_mm = np.array(errors)
    ms = np.array(seconds) * 1e3
    finite = err_mm[np.isfinite(err_mm)]
    return {
        "frames": len(ms),
        "fps": round(float(len(ms) / (ms.sum() / 1e3)), 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "model_runs_per_frame": round(float(np.mean(runs_per_frame)), 2),
        "tip_error_mm_median": round(float(np.median(finite)), 3) if len(finite) else None,
        "tip_error_mm_p95": round(float(np.percentile(finite, 95)), 3) if len(finite) else None,
        "found_share": round(float(np.isfinite(err_mm).mean()), 4),
    }


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Track 4 runs of 60 frames (``quick``: 1 of 20); ``duration_s`` is not used."""
    runs, frames = (1, 20) if quick else (4, 60)
    data = _frames(runs, frames)
    variants: dict[str, dict[str, Any]] = {}
    errors = []
    plans = [("roi", "onnxruntime", True), ("whole-frame", "onnxruntime", False)]
    if "torch" in available_backends():
        plans.append(("torch-roi", "torch", True))
    for name, backend_name, use_roi in plans:
        try:
            backend = load_backend("fluoro-catheter", backend_name, threads=THREADS)
            variants[name] = {"backend": backend_name, **_track(backend, use_roi, data)}
        except (ImportError, RuntimeError, ValueError) as exc:
            variants[name] = {"backend": backend_name, "error": f"{type(exc).__name__}: {exc}"}
            errors.append(f"{name}: {exc}")
        if progress is not None:
            progress(f"{name:12} {variants[name]}")
    roi = variants.get("roi", {})
    ratios = {
        name: ratio(roi.get("fps"), v.get("fps")) for name, v in variants.items() if name != "roi"
    }
    fps = roi.get("fps")
    return {
        "benchmark": "tracking",
        "machine": machine_stamp(),
        "settings": {
            "model": "fluoro-catheter",
            "frame": [1024, 1024],
            "runs": runs,
            "frames_per_run": frames,
            "first_seed": FIRST_SEED,
            "threads": THREADS,
        },
        "variants": variants,
        "roi_fps_ratio_to": ratios,
        "goals": {"roi tracking >= 30 frames/s": None if fps is None else fps >= 30.0},
        "errors": errors,
    }


def render(report: dict[str, Any]) -> str:
    """One row per variant, with the ROI tracker's speed ratio to it."""
    rows = [
        [
            name,
            v.get("backend"),
            v.get("fps"),
            v.get("p50_ms"),
            v.get("p99_ms"),
            v.get("model_runs_per_frame"),
            v.get("tip_error_mm_median"),
            v.get("tip_error_mm_p95"),
            report["roi_fps_ratio_to"].get(name, "-"),
        ]
        for name, v in report["variants"].items()
    ]
    header = [
        "variant",
        "backend",
        "frames/s",
        "p50 ms",
        "p99 ms",
        "runs/frame",
        "tip mm p50",
        "tip mm p95",
        "roi fps / this",
    ]
    m = report["machine"]
    return (
        f"orstream bench tracking ({m['date']}; {m['cpu']}, {report['settings']['threads']} "
        "threads, 1024 x 1024 fluoroscopy)\n" + format_table(header, rows)
    )
