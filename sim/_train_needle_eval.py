"""The ``us-needle`` task's evaluation: needle Dice, tip error and detection on fresh seeds.

Test frames come from seeds the training never saw (``NEEDLE_SPLIT_SEEDS["test"]`` on), in
their own pixels (square and 4:3 wide), through the whole per-frame path
(``orstream.kernels.detect_needles``: letterbox, run, mask and tip back to the frame).
"""

from __future__ import annotations

import time
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..kernels import (
    DETECT_PROB,
    Backend,
    ModelSpec,
    SegTask,
    TrainOptions,
    detect_needles,
    dice_scores,
    eval_backend,
    eval_report_header,
    summary_stats,
    tip_confidence_report,
)
from ._train_needle import (
    EVAL_FRAMES_PER_SEED,
    NEEDLE_FPS,
    NEEDLE_SPLIT_SEEDS,
    PASSES,
    TEST_ASPECTS,
    TEST_ROWS,
    US_NEEDLE,
    NeedleSet,
    needle_training_data,
    render_needle,
)


def detect_frames_per_second(backend: Backend, data: NeedleSet, n: int = 200) -> float:
    """Frames/s of the whole per-frame path at batch 1 (letterbox, resize, normalise, run,
    mask and tip back to the frame), on up to ``n`` of ``data``'s frames after a warm-up."""
    images = [data.images[i % len(data)] for i in range(n)]
    list(detect_needles(backend, images[:10], batch_size=1))
    t0 = time.perf_counter()
    for _ in detect_needles(backend, images, batch_size=1):
        pass
    return n / (time.perf_counter() - t0)


def _rate(hits: npt.NDArray[np.bool_]) -> float | None:
    return round(float(hits.mean()), 4) if len(hits) else None


def score_needle(backend: Backend, data: NeedleSet) -> dict[str, Any]:
    """Needle Dice, tip error (frame px and mm), detection and false-alarm rates of
    ``backend`` on ``data`` (frames in their own pixels), overall and per test aspect.

    ``needle_dice``: frames where the truth or the mask has needle pixels (a speck on a
    needle-free frame scores 0); ``needle_dice_needle_present``: frames whose truth shows the
    needle; ``needle_dice_gated``: the mask cleared where the tip confidence is below
    ``DETECT_PROB``. Tip errors are over frames whose tip is visible, whatever the
    confidence; ``detection_rate``/``false_alarm_rate``: confidence >= ``DETECT_PROB``
    on frames with/without a visible tip; ``mask_false_alarm_rate``: needle-free frames with
    any mask pixel."""
    found = list(detect_needles(backend, data.images))
    masks = [d.mask for d in found]
    dice = np.array([dice_scores(m, t, 2)[0, 0] for m, t in zip(masks, data.masks, strict=True)])
    conf = np.array([d.confidence for d in found])
    got = np.array([d.tip for d in found], np.float64).reshape(-1, 2)
    visible = np.isfinite(data.tips[:, 0])
    err_px = np.hypot(*(got - data.tips).T)  # NaN where no tip is visible
    err_mm = err_px * data.spacing_mm
    aspect = np.array(
        [TEST_ASPECTS[(s - NEEDLE_SPLIT_SEEDS["test"]) % len(TEST_ASPECTS)][0] for s in data.seeds]
    )
    has_needle = np.array([bool(m.any()) for m in data.masks])
    predicted = np.array([bool((m == 1).any()) for m in masks])

    # the mask kept only where the heatmap says a tip is in view
    gated = np.where(conf >= DETECT_PROB, dice, np.where(has_needle, 0.0, np.nan))

    def block(sel: npt.NDArray[np.bool_]) -> dict[str, Any]:
        vis, mm = visible & sel, err_mm[visible & sel]
        return {
            "frames": int(sel.sum()),
            "frames_tip_visible": int(vis.sum()),
            "needle_dice": summary_stats(dice[sel]),
            "needle_dice_needle_present": summary_stats(dice[sel & has_needle]),
            "needle_dice_gated": summary_stats(gated[sel]),
            "tip_error_px": summary_stats(err_px[vis], 3),
            "tip_error_mm": summary_stats(mm, 3),
            "tip_within_1mm": _rate(mm <= 1.0),
            "tip_within_2mm": _rate(mm <= 2.0),
            "detection_rate": _rate(conf[vis] >= DETECT_PROB),
            "false_alarm_rate": _rate(conf[~visible & sel] >= DETECT_PROB),
        }

    report: dict[str, Any] = {
        **block(np.ones(len(data), bool)),
        "mask_false_alarm_rate": _rate(predicted[~has_needle]),
        "by_aspect": {name: block(aspect == name) for name, _ in TEST_ASPECTS},
        # bad: the tip in view but found > 3 mm away, or no tip in view (any tip is false)
        "tip_confidence": tip_confidence_report(conf, np.where(visible, err_mm, np.inf)),
    }
    worst = np.argsort(np.nan_to_num(-err_mm, nan=np.inf))[: min(5, int(visible.sum()))]
    report["worst_tip"] = [
        {
            "seed": int(data.seeds[i]),
            "frame": int(data.frames[i]),
            "error_mm": round(float(err_mm[i]), 3),
            "confidence": round(float(conf[i]), 3),
        }
        for i in worst
    ]
    return report


def _evaluate(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """The evaluation report of ``spec`` on the test split (seeds from
    ``NEEDLE_SPLIT_SEEDS["test"]``, never used in training, 2 frames each, ``options.size``
    rows, default ``TEST_ROWS``; even seeds square, odd seeds 4:3 wide)."""
    rows = options.size or TEST_ROWS
    n_seeds = max(1, options.test_samples // EVAL_FRAMES_PER_SEED)
    data = render_needle(
        "test", n_seeds, frames_per_seed=EVAL_FRAMES_PER_SEED, rows=rows, progress=options.progress
    )
    runner = eval_backend(spec, options)
    return {
        **eval_report_header(spec, runner, options),
        "test_seeds": [NEEDLE_SPLIT_SEEDS["test"], NEEDLE_SPLIT_SEEDS["test"] + n_seeds],
        "frames_per_seed": EVAL_FRAMES_PER_SEED,
        "frame_span": f"first {PASSES} needle passes at {NEEDLE_FPS:g} frames/s",
        "render_rows": rows,
        "aspects": {name: [rows, round(rows * ratio)] for name, ratio in TEST_ASPECTS},
        "detect_threshold": DETECT_PROB,
        **score_needle(runner, data),
        "detect_frames_per_s_batch1": round(
            detect_frames_per_second(runner, data, options.speed_frames), 1
        ),
    }


NEEDLE_TASK: Final = SegTask(US_NEEDLE, needle_training_data, _evaluate)
"""The ``us-needle`` task: recipe, training data, evaluation."""
