"""The ``fluoro-catheter`` task's evaluation: the tip tracker on fresh simulated sequences.

Each test run (:func:`~._train_fluoro.fluoro_run` of a seed from the test range, never
trained on) gives 60 consecutive 1024 x 1024 frames (4 s at 15 frames/s) to a fresh
``RoiTipTracker`` on the model; the report gives the tip error (mm, px) overall, per anatomy
and per contrast level, how often the ROI pass ran, the tracking speed, the catheter Dice
of the whole-frame (search) view and how well the tip confidence tells frames more than 3 mm
off (``tip_confidence``, AUROC).
"""

from __future__ import annotations

import math
import time
from typing import Any, Final

import numpy as np

from ..kernels import (
    Backend,
    ModelSpec,
    Progress,
    RoiTipTracker,
    SegTask,
    TrainOptions,
    dice_scores,
    eval_backend,
    eval_report_header,
    summary_stats,
    tip_confidence_report,
)
from ._fluoro import FluoroSimulator
from ._robot_fluoro import RobotFluoroSimulator
from ._train_fluoro import (
    FLUORO_CATHETER,
    FLUORO_SPLIT_SEEDS,
    fluoro_run,
    fluoro_training_data,
    fluoro_view,
)

FRAMES_PER_RUN: Final = 60
"""Consecutive frames tracked per test run (4 s at 15 frames/s)."""


def track_sequence(
    tracker: RoiTipTracker, sim: FluoroSimulator | RobotFluoroSimulator, frames: int
) -> dict[str, list[float]]:
    """Run ``tracker`` over ``frames`` consecutive frames of ``sim``; per frame the tip error
    (px, mm; inf when no tip is found), the reported tip (x, y px), the confidence, the track
    confidence and position sigma (px), whether the ROI pass was used, the seconds it took and
    the contrast level (0 none .. 1 full opacification)."""
    out: dict[str, list[float]] = {
        "err_px": [],
        "err_mm": [],
        "x_px": [],
        "y_px": [],
        "conf": [],
        "track_conf": [],
        "sigma_px": [],
        "roi": [],
        "s": [],
        "contrast": [],
    }
    for index in range(frames):
        frame = sim.render(index)
        t0 = time.perf_counter()
        est = tracker.step(frame.image, frame.t_s)
        out["s"].append(time.perf_counter() - t0)
        tip = frame.truth["tip_px"]
        err = math.hypot(est.x_px - tip[0], est.y_px - tip[1]) if est.found else math.inf
        out["err_px"].append(err)
        out["err_mm"].append(err * sim.spacing_mm[0])
        out["x_px"].append(est.x_px)
        out["y_px"].append(est.y_px)
        out["conf"].append(est.confidence)
        out["track_conf"].append(est.track_confidence)
        out["sigma_px"].append(est.sigma_px)
        out["roi"].append(float(est.mode == "roi"))
        out["contrast"].append(float(frame.truth.get("contrast_level", 0.0)))
    return out


def _search_dice(runner: Backend, n_runs: int) -> dict[str, float | int]:
    """Catheter Dice of the whole-frame (4x) view on one frame per test run."""
    scores = []
    for j in range(n_runs):
        sim = fluoro_run(FLUORO_SPLIT_SEEDS["test"] + j)
        frame = sim.render(30)
        x, y, _, _ = fluoro_view(frame.image, frame.labels, (0.0, 0.0), (0, 0, 1024))
        logits = runner.run(x[None, None])
        pred = logits[0, :2].argmax(0).astype(np.uint8)
        scores.append(dice_scores(pred, y, 2)[0, 0])
    return summary_stats(np.array(scores), 4)


def _evaluate(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """Tip tracking on fresh test runs: ``options.test_samples`` frames in sequences of 60
    consecutive frames (4 s at 15 fps) per seed, 1024 x 1024; tip error (mm, px), tracking speed
    and mask Dice of the search pass."""
    runner = eval_backend(spec, options)
    n_runs = max(1, options.test_samples // FRAMES_PER_RUN)
    runs = []
    bar = Progress(n_runs, stream=options.progress)
    for j in range(n_runs):
        sim = fluoro_run(FLUORO_SPLIT_SEEDS["test"] + j)
        got = track_sequence(RoiTipTracker(runner), sim, FRAMES_PER_RUN)
        runs.append((sim.anatomy, sim.use_real_centerlines, got))
        bar.update("tracking test runs")

    def joined(key: str) -> np.ndarray[Any, Any]:
        return np.concatenate([np.array(r[2][key]) for r in runs])

    err_mm, err_px, seconds = joined("err_mm"), joined("err_px"), joined("s")
    by_anatomy = {
        a: summary_stats(np.concatenate([np.array(r[2]["err_mm"]) for r in runs if r[0] == a]), 3)
        for a in sorted({r[0] for r in runs})
    }
    real = [np.array(r[2]["err_mm"]) for r in runs if r[1]]
    contrast = joined("contrast")
    dice = _search_dice(runner, n_runs)
    return {
        **eval_report_header(spec, runner, options),
        "test_seeds": [FLUORO_SPLIT_SEEDS["test"], FLUORO_SPLIT_SEEDS["test"] + n_runs],
        "frames": len(err_mm),
        "frame_size": [1024, 1024],
        "tip_error_mm": summary_stats(err_mm, 3),
        "tip_error_px": summary_stats(err_px, 2),
        "tip_found_share": round(float(np.mean(np.isfinite(err_mm))), 4),
        "tip_error_mm_by_anatomy": by_anatomy,
        "tip_error_mm_real_centerlines": summary_stats(np.concatenate(real), 3) if real else None,
        "tip_error_mm_by_contrast": {
            "none (< 0.1)": summary_stats(err_mm[contrast < 0.1], 3),
            "some (0.1-0.5)": summary_stats(err_mm[(contrast >= 0.1) & (contrast < 0.5)], 3),
            "opacified (>= 0.5)": summary_stats(err_mm[contrast >= 0.5], 3),
        },
        "roi_share": round(float(np.mean(joined("roi"))), 4),
        "track_ms": summary_stats(seconds * 1e3, 2),
        "track_fps": round(float(len(seconds) / seconds.sum()), 1),
        "catheter_dice_search_pass": dice,
        "tip_confidence": tip_confidence_report(joined("conf"), err_mm),
        "tip_confidence_track_only": tip_confidence_report(joined("track_conf"), err_mm),
    }


FLUORO_TASK: Final = SegTask(FLUORO_CATHETER, fluoro_training_data, _evaluate)
"""The ``fluoro-catheter`` task: recipe, training data, evaluation."""
