"""The ``us-needle`` task's evaluation: needle Dice, tip error and detection on fresh seeds.

Test frames come from seeds the training never saw (``NEEDLE_SPLIT_SEEDS["test"]`` on), in
their own pixels (square and 4:3 wide), through the whole per-frame path
(``orstream.kernels.detect_needles``: letterbox, run, mask and tip back to the frame).

The report also scores a harder set, :func:`render_shallow_needle` (seeds from
``SHALLOW_SEEDS``): frames of needle passes shallower than ``SHALLOW_MAX_DEG``, each shown on
a scanner's screen (``orstream.kernels.scanner_border`` on a 720 x 440 screen at half size:
black border, burnt-in text, depth scale), as the real sequences where the model failed
(issue 12) looked.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Final, TextIO

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
    scanner_border,
    summary_stats,
    tip_confidence_report,
)
from ._train_needle import (
    EVAL_FRAMES_PER_SEED,
    NEEDLE_FPS,
    NEEDLE_LABEL,
    NEEDLE_SPLIT_SEEDS,
    PASSES,
    TEST_ASPECTS,
    TEST_ROWS,
    US_NEEDLE,
    NeedleSet,
    needle_frame_shape,
    needle_training_data,
    render_needle,
)
from ._us import UltrasoundSimulator

U8 = npt.NDArray[np.uint8]

SHALLOW_SEEDS: Final = 32_000_000
"""First simulator seed of the shallow, letterboxed test set (no other split comes near)."""
SHALLOW_MAX_DEG: Final = 20.0
"""Passes below this angle to the probe face (degrees) make the shallow set."""
SHALLOW_SCREEN: Final = (220, 360)
"""(H, W) px of the screen the shallow frames are shown on: a 720 x 440 screen at half size."""
SHALLOW_PASSES: Final = 6
"""Passes of each seed looked at for shallow ones."""


def render_shallow_needle(
    n_frames: int,
    *,
    rows: int = TEST_ROWS,
    screen: bool = True,
    progress: TextIO | None = sys.stderr,
) -> NeedleSet:
    """``n_frames`` test frames of shallow needles on a scanner's screen, deterministic.

    Seed ``SHALLOW_SEEDS + j`` renders at the test shapes (``rows`` rows, even j square, odd j
    4:3 wide; randomized simulator at ``NEEDLE_FPS``); each of its first ``SHALLOW_PASSES``
    passes at less than ``SHALLOW_MAX_DEG`` gives ``EVAL_FRAMES_PER_SEED`` frames at random
    instants of the pass (the needle entering, in view, withdrawn or out, as in the test
    split). Each frame, its mask and its tip go through ``scanner_border`` onto a
    ``SHALLOW_SCREEN`` canvas (the image 60-95 % of its height, random place, text and depth
    scale around it; random numbers from (seed, frame index)); ``spacing_mm`` is the rendered
    spacing over that scale. ``screen=False``: the same frames in their own pixels (a list
    when the shapes differ). Seeds go on until ``n_frames`` are drawn.
    """
    if n_frames < 1:
        raise ValueError(f"need n_frames >= 1, got {n_frames}")
    images: list[U8] = []
    masks: list[U8] = []
    tips: list[tuple[float, float]] = []
    seeds: list[int] = []
    frames: list[int] = []
    spacing: list[float] = []
    seed = SHALLOW_SEEDS
    while len(images) < n_frames:
        rows_cols = needle_frame_shape("test", NEEDLE_SPLIT_SEEDS["test"] + seed % 2, rows)
        sim = UltrasoundSimulator(seed, fps=NEEDLE_FPS, size=rows_cols, randomize=True)
        rng = np.random.default_rng([seed, 0x5A1])
        per_pass = int(sim.pass_s * NEEDLE_FPS)
        for k in range(SHALLOW_PASSES):
            if sim._pass(k).angle_deg >= SHALLOW_MAX_DEG:
                continue
            picks = rng.choice(per_pass, EVAL_FRAMES_PER_SEED, replace=False)
            for index in sorted(int(k * per_pass + i) for i in picks):
                if len(images) == n_frames:
                    break
                frame = sim.render(index)
                mask = (frame.labels == NEEDLE_LABEL).astype(np.uint8)
                image, m = frame.image, np.eye(2, 3)
                if screen:
                    image, mask, m = scanner_border(
                        image,
                        mask,
                        np.random.default_rng([seed, index, 0x5A2]),
                        canvas_hw=SHALLOW_SCREEN,
                        frame_aspect=None,
                        content_height=(0.6, 0.95),
                    )
                tip = (math.nan, math.nan)
                if frame.truth["needle_visible"]:
                    x, y = frame.truth["needle_tip_px"]
                    tx, ty = m @ np.array([x, y, 1.0])
                    tip = (float(tx), float(ty))
                images.append(image)
                masks.append(mask)
                tips.append(tip)
                seeds.append(seed)
                frames.append(index)
                spacing.append(sim.spacing_mm[0] / math.sqrt(m[0, 0] * m[1, 1]))
        seed += 1
    if progress is not None:
        print(f"shallow set: {n_frames} frames of {seed - SHALLOW_SEEDS} seeds", file=progress)
    return NeedleSet.from_frames(
        images, masks, tips=tips, seeds=seeds, frames=frames, spacing_mm=spacing
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
    shallow = render_shallow_needle(
        n_seeds * EVAL_FRAMES_PER_SEED, rows=rows, progress=options.progress
    )
    return {
        **eval_report_header(spec, runner, options),
        "test_seeds": [NEEDLE_SPLIT_SEEDS["test"], NEEDLE_SPLIT_SEEDS["test"] + n_seeds],
        "frames_per_seed": EVAL_FRAMES_PER_SEED,
        "frame_span": f"first {PASSES} needle passes at {NEEDLE_FPS:g} frames/s",
        "render_rows": rows,
        "aspects": {name: [rows, round(rows * ratio)] for name, ratio in TEST_ASPECTS},
        "detect_threshold": DETECT_PROB,
        **score_needle(runner, data),
        "shallow_on_screen": {
            "seeds": [int(shallow.seeds.min()), int(shallow.seeds.max()) + 1],
            "what": f"needle passes below {SHALLOW_MAX_DEG:g} deg, first {SHALLOW_PASSES} "
            f"passes of each seed, {EVAL_FRAMES_PER_SEED} frames per pass, each on a "
            f"{SHALLOW_SCREEN[1]} x {SHALLOW_SCREEN[0]} scanner screen (scanner_border)",
            **score_needle(runner, shallow),
        },
        "detect_frames_per_s_batch1": round(
            detect_frames_per_second(runner, data, options.speed_frames), 1
        ),
    }


NEEDLE_TASK: Final = SegTask(US_NEEDLE, needle_training_data, _evaluate)
"""The ``us-needle`` task: recipe, training data, evaluation."""
