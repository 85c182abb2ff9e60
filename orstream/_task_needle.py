"""The ``us-needle`` model: needle mask and needle-tip heatmap in intra-operative ultrasound.

Data: :class:`~orstream.sim.UltrasoundSimulator` with ``randomize=True`` (anatomy, scanner
settings and the needle's echo drawn from the seed), frames at random instants over the first
``PASSES`` needle passes (advance, pause, retract, hold, withdraw, out of view), so that the
needle is in most frames but not all. Seeds never overlap between splits (``SPLIT_SEEDS``).
Each seed draws its frame shape: ``RENDER_ROWS`` rows and a width/height ratio in
``ASPECT_RANGE`` (linear-array images are often wider than tall). Frames reach the model by the
letterbox convention of ``segment_images``: black padding to a centred square, resized to the
128 x 128 input; tips are mapped with :func:`~orstream.kernels._tip.image_to_input_px`.

Targets: the mask is the simulator's needle label (3) as class 1; the heatmap is 1.0 at the
pixel nearest to ``needle_tip_px`` and a Gaussian of ``HEAT_SIGMA_PX`` (input px) around the
exact tip, all 0 when ``needle_visible`` is false. :func:`augment` flips left-right (the tip
too), zooms, rotates and shifts a little, and varies gain, gamma, TGC, blur, resolution,
noise and JPEG quality.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TextIO

import cv2
import numpy as np
import numpy.typing as npt

from ._training import (
    SegRecipe,
    TrainingData,
    TrainOptions,
    map_jobs,
    open_backend,
    report_header,
    summary,
)
from .kernels._backends import Backend
from .kernels._backends_segment import dice_scores, letterbox, logits_to_mask, to_model_input
from .kernels._models import ModelSpec, normalize
from .kernels._tip import heatmap_target, image_to_input_px, input_to_image_px, tip_from_heatmap
from .kernels._train_progress import Progress
from .sim import UltrasoundSimulator

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

SPLIT_SEEDS: Final = {"train": 10_000_000, "val": 20_000_000, "test": 30_000_000}
"""First simulator seed of each split; a split of n seeds uses [base, base + n)."""
FPS: Final = 30.0
PASSES: Final = 3
"""Frames are drawn uniformly from the first ``PASSES`` needle passes of each seed."""
TRAIN_FRAMES_PER_SEED: Final = 4
EVAL_FRAMES_PER_SEED: Final = 2
RENDER_ROWS: Final = (128, 160, 192, 224)
"""Training and validation frames have one of these heights (drawn per seed)."""
ASPECT_RANGE: Final = (0.8, 1.6)
"""Width / height of training and validation frames, drawn per seed."""
TEST_ROWS: Final = 160
"""Default height of test frames (``eval seg --size`` changes it)."""
TEST_ASPECTS: Final = (("square", 1.0), ("wide", 4.0 / 3.0))
"""Test seed j has the shape ``TEST_ASPECTS[j % 2]`` (width = round(rows * ratio))."""
HEAT_SIGMA_PX: Final = 2.0
"""Standard deviation of the Gaussian tip target, model input px."""
DETECT_PROB: Final = 0.5
"""A heatmap peak of at least this probability says "a tip is in view"."""
NEEDLE_LABEL: Final = 3

US_NEEDLE: Final = SegRecipe(
    name="us-needle",
    input_size=(128, 128),
    class_names=("background", "needle"),
    architecture={
        "network": "UNet",
        "args": {
            "channels": [12, 24, 48, 96, 192],
            "strides": [2, 2, 2, 2],
            "num_res_units": 2,
            "norm": "batch",
        },
    },
    normalization={"kind": "p99", "floor": 8.0, "clip": 2.0},
    description="Needle mask and needle-tip heatmap (channel 2, logits) in linear-array "
    "B-mode ultrasound of in-plane nerve blocks, trained on the orstream ultrasound simulator "
    "with domain randomization; images letterboxed to a square",
    tip_heatmap=True,
)
RECIPE: Final = US_NEEDLE


@dataclass(frozen=True)
class NeedleSet:
    """Rendered frames: ``images`` uint8 and ``masks`` uint8 (0/1 needle), each (H, W) (a
    list when shapes differ, else (N, H, W)); ``tips`` float64 (N, 2) (x, y) px in the same
    pixels, NaN where the tip is not visible; per frame ``seeds``, ``frames`` (N,) int64 and
    ``spacing_mm`` (N,) float64 (of the rendered frame, before any resize)."""

    images: list[U8] | U8
    masks: list[U8] | U8
    tips: npt.NDArray[np.float64]
    seeds: npt.NDArray[np.int64]
    frames: npt.NDArray[np.int64]
    spacing_mm: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.images)


RenderJob = tuple[int, int, int, int, tuple[int, int] | None]
"""(seed, rows, cols, frames, model input size or None for the frame's own pixels)."""
Rendered = tuple[list[U8], list[U8], list[tuple[float, float]], list[int], float]


def frame_shape(split: str, seed: int, rows: int | None = None) -> tuple[int, int]:
    """(H, W) of the frames of ``seed``: drawn from ``RENDER_ROWS`` and ``ASPECT_RANGE`` for
    train and val; for test ``rows`` (default ``TEST_ROWS``) by ``TEST_ASPECTS``."""
    if split == "test":
        h = rows or TEST_ROWS
        ratio = TEST_ASPECTS[(seed - SPLIT_SEEDS["test"]) % len(TEST_ASPECTS)][1]
        return h, round(h * ratio)
    rng = np.random.default_rng([seed, 0x7E1])
    h = int(rng.choice(RENDER_ROWS))
    return h, round(h * float(rng.uniform(*ASPECT_RANGE)))


def mask_to_input(mask: U8, size: tuple[int, int]) -> U8:
    """A 0/1 mask letterboxed and resized to ``size``: pixels at least half covered."""
    square, _ = letterbox(mask)
    if square.shape == size:
        return square
    cover = cv2.resize(square.astype(np.float32), size[::-1], interpolation=cv2.INTER_AREA)
    return (np.asarray(cover) >= 0.5).astype(np.uint8)


def _render_seed(job: RenderJob) -> Rendered:
    seed, rows, cols, n, size = job
    sim = UltrasoundSimulator(seed, fps=FPS, size=(rows, cols), randomize=True)
    span = int(PASSES * sim.pass_s * FPS)
    rng = np.random.default_rng([seed, 0x7E2])
    indices = sorted(int(i) for i in rng.choice(span, min(n, span), replace=False))
    images, masks, tips = [], [], []
    for index in indices:
        frame = sim.render(index)
        image, mask = frame.image, (frame.labels == NEEDLE_LABEL).astype(np.uint8)
        tip = (math.nan, math.nan)
        if frame.truth["needle_visible"]:
            tip = (float(frame.truth["needle_tip_px"][0]), float(frame.truth["needle_tip_px"][1]))
        if size is not None:
            tip = image_to_input_px(*tip, size, (rows, cols))
            image, mask = to_model_input(image, size), mask_to_input(mask, size)
        images.append(image)
        masks.append(mask)
        tips.append(tip)
    return images, masks, tips, indices, sim.spacing_mm[0]


def render_needle(
    split: str,
    n_seeds: int,
    *,
    frames_per_seed: int,
    size: tuple[int, int] | None = None,
    rows: int | None = None,
    workers: int = 1,
    progress: TextIO | None = sys.stderr,
) -> NeedleSet:
    """``n_seeds * frames_per_seed`` frames of ``split`` ("train", "val", "test").

    Seed ``SPLIT_SEEDS[split] + j`` renders at :func:`frame_shape`; with ``size`` (H, W) the
    frames, masks and tips are letterboxed to the model input (else they keep the frame's own
    pixels). Deterministic: the same arguments give the same frames. ``workers`` > 1 renders
    in that many processes.
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_SEEDS)}")
    if n_seeds < 1 or frames_per_seed < 1:
        raise ValueError("need n_seeds >= 1 and frames_per_seed >= 1")
    base = SPLIT_SEEDS[split]
    jobs: list[RenderJob] = [
        (base + j, *frame_shape(split, base + j, rows), frames_per_seed, size)
        for j in range(n_seeds)
    ]
    bar = Progress(n_seeds, stream=progress)
    images: list[U8] = []
    masks: list[U8] = []
    tips: list[tuple[float, float]] = []
    seeds: list[int] = []
    frames: list[int] = []
    spacing: list[float] = []

    def collect(job: RenderJob, got: Rendered) -> None:
        images.extend(got[0])
        masks.extend(got[1])
        tips.extend(got[2])
        frames.extend(got[3])
        seeds.extend([job[0]] * len(got[3]))
        spacing.extend([got[4]] * len(got[3]))
        bar.update(f"rendering {split} frames")

    for job, got in map_jobs(_render_seed, jobs, workers):
        collect(job, got)
    same = len({im.shape for im in images}) == 1
    return NeedleSet(
        np.stack(images) if same else images,
        np.stack(masks) if same else masks,
        np.array(tips, np.float64).reshape(-1, 2),
        np.array(seeds, np.int64),
        np.array(frames, np.int64),
        np.array(spacing, np.float64),
    )


# -- targets and augmentation ---------------------------------------------------------------------
def flip(image: U8, mask: U8, tip: tuple[float, float]) -> tuple[U8, U8, tuple[float, float]]:
    """Left-right mirror of a frame, its mask and its tip (x -> W - 1 - x)."""
    w = image.shape[1]
    return (
        np.ascontiguousarray(image[:, ::-1]),
        np.ascontiguousarray(mask[:, ::-1]),
        (w - 1 - tip[0], tip[1]),
    )


def augment(
    image: U8, mask: U8, tip: tuple[float, float], rng: np.random.Generator
) -> tuple[U8, U8, tuple[float, float]]:
    """A randomly altered copy of ``image`` uint8 (H, W), ``mask`` uint8 (H, W) and ``tip``
    (x, y) px (NaN: none). Geometry changes all three (a tip moved out of the image becomes
    NaN); intensity changes the image only; the letterbox padding stays black."""
    h, w = image.shape
    img, lab = image, mask
    if rng.uniform() < 0.5:
        img, lab, tip = flip(img, lab, tip)
    if rng.uniform() < 0.6:  # zoom, small rotation and shift about the centre
        scale = float(np.exp(rng.uniform(np.log(0.8), np.log(1.3))))
        angle = float(rng.uniform(-8, 8))
        m = np.asarray(
            cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, scale), np.float64
        )
        m[:, 2] += rng.uniform(-0.08, 0.08, 2) * (w, h)
        img = np.asarray(cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0))
        lab = np.asarray(cv2.warpAffine(lab, m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0))
        x, y = m @ np.array([tip[0], tip[1], 1.0])
        inside = -0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5
        tip = (float(x), float(y)) if inside else (math.nan, math.nan)
    pad = img == 0
    x = img.astype(np.float32) / 255.0
    if rng.uniform() < 0.25:  # resolution loss
        f = float(rng.uniform(0.5, 0.85))
        small = cv2.resize(
            x, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA
        )
        x = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    if rng.uniform() < 0.3:
        x = np.asarray(cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.4, 1.1))), np.float32)
    if rng.uniform() < 0.5:  # time-gain compensation: a depth ramp
        ramp = 1.0 + float(rng.uniform(-0.6, 0.6)) * np.linspace(-0.5, 0.5, h, dtype=np.float32)
        x = x * ramp[:, None]
    if rng.uniform() < 0.2:  # haze
        x = x + float(rng.uniform(0.02, 0.1))
    if rng.uniform() < 0.4:  # speckle-like multiplicative and additive noise
        x = x * (1.0 + rng.normal(0.0, float(rng.uniform(0.05, 0.3)), x.shape).astype(np.float32))
    if rng.uniform() < 0.4:
        x = x + rng.normal(0.0, float(rng.uniform(0.005, 0.03)), x.shape).astype(np.float32)
    gain = float(np.exp(rng.uniform(np.log(0.5), np.log(1.6))))
    gamma = float(np.exp(rng.uniform(np.log(0.65), np.log(1.6))))
    x = np.clip(x * gain, 0.0, 1.0) ** gamma
    out = (x * 255.0 + 0.5).astype(np.uint8)
    if rng.uniform() < 0.25:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        if ok:
            out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)
    out[pad] = 0
    return out, np.ascontiguousarray(lab), tip


Batch = tuple[F32, U8, F32]


def batches(
    data: NeedleSet,
    normalization: dict[str, Any],
    *,
    batch_size: int,
    seed: int,
    augmented: bool = True,
) -> Callable[[int], Iterator[Batch]]:
    """``epoch -> iterator of (x float32 (B, 1, H, W), y uint8 (B, H, W), heat float32 (B, H,
    W))``: a fresh shuffle and fresh augmentation per epoch (seeded by ``seed`` and the
    epoch), normalised for the model; the last partial batch is dropped. ``data`` must hold
    frames at the model input (``render_needle(..., size=...)``)."""
    images, masks = np.asarray(data.images), np.asarray(data.masks)
    shape = (int(images.shape[1]), int(images.shape[2]))

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        rng = np.random.default_rng([seed, epoch, 0x7E3])
        order = rng.permutation(len(data))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            items = [
                augment(images[i], masks[i], (data.tips[i, 0], data.tips[i, 1]), rng)
                if augmented
                else (images[i], masks[i], (data.tips[i, 0], data.tips[i, 1]))
                for i in order[start : start + batch_size]
            ]
            x = normalize(np.stack([it[0] for it in items]), normalization)
            y = np.stack([it[1] for it in items])
            heat = np.stack([heatmap_target(it[2], shape, HEAT_SIGMA_PX) for it in items])
            yield x, y, heat

    return epoch_batches


def fixed_batches(
    data: NeedleSet, normalization: dict[str, Any], batch_size: int = 64
) -> list[Batch]:
    """Un-augmented batches of ``data`` (at the model input) in order (validation)."""
    images, masks = np.asarray(data.images), np.asarray(data.masks)
    shape = (int(images.shape[1]), int(images.shape[2]))
    return [
        (
            normalize(images[i : i + batch_size], normalization),
            masks[i : i + batch_size],
            np.stack(
                [heatmap_target(t, shape, HEAT_SIGMA_PX) for t in data.tips[i : i + batch_size]]
            ),
        )
        for i in range(0, len(data), batch_size)
    ]


# -- the task: training data, evaluation --------------------------------------------------------
def training_data(options: TrainOptions) -> TrainingData:
    """Simulator frames of the train seeds (4 per seed, augmented per epoch) and of the val
    seeds (2 per seed), letterboxed to the model input."""
    r = RECIPE
    n_train = max(1, options.samples // TRAIN_FRAMES_PER_SEED)
    n_val = max(1, options.val_samples // EVAL_FRAMES_PER_SEED)
    train = render_needle(
        "train",
        n_train,
        frames_per_seed=TRAIN_FRAMES_PER_SEED,
        size=r.input_size,
        workers=options.workers,
        progress=options.progress,
    )
    val = render_needle(
        "val",
        n_val,
        frames_per_seed=EVAL_FRAMES_PER_SEED,
        size=r.input_size,
        workers=options.workers,
        progress=options.progress,
    )
    doc = {
        "simulator": f"orstream.sim.UltrasoundSimulator(seed, fps={FPS:g}, size=(H, W), "
        "randomize=True)",
        "frames": f"uniform over the first {PASSES} needle passes of each seed",
        "train_seeds": [SPLIT_SEEDS["train"], SPLIT_SEEDS["train"] + n_train],
        "val_seeds": [SPLIT_SEEDS["val"], SPLIT_SEEDS["val"] + n_val],
        "test_seeds_from": SPLIT_SEEDS["test"],
        "frames_per_seed": {"train": TRAIN_FRAMES_PER_SEED, "val": EVAL_FRAMES_PER_SEED},
        "train_frames": len(train),
        "val_frames": len(val),
        "train_tip_visible_share": round(float(np.isfinite(train.tips[:, 0]).mean()), 4),
        "render_rows": list(RENDER_ROWS),
        "aspect_range": list(ASPECT_RANGE),
        "to_input": "letterbox (black padding to a centred square), resize to "
        f"{r.input_size[0]} x {r.input_size[1]}",
        "labels": "needle = simulator label 3",
        "heat_target": f"Gaussian sigma {HEAT_SIGMA_PX:g} input px around needle_tip_px, "
        "1.0 at the nearest pixel, 0 when needle_visible is false",
        "augmentation": "orstream._task_needle.augment",
    }
    return TrainingData(
        batches(train, r.normalization, batch_size=options.batch_size, seed=options.seed),
        fixed_batches(val, r.normalization),
        len(train),
        len(val),
        doc,
    )


@dataclass(frozen=True)
class Detection:
    """One frame's result in its own pixels: ``mask`` uint8 (H, W) class indices, ``tip``
    (x, y) px of the heatmap's sub-pixel peak (even when weak) and its ``confidence``."""

    mask: U8
    tip: tuple[float, float]
    confidence: float


def detect(backend: Backend, images: list[U8] | U8, *, batch_size: int = 32) -> Iterator[Detection]:
    """Needle mask and tip of each grey uint8 frame: letterbox, resize, normalise, run; the
    class logits go back to the frame's size (``logits_to_mask``), the tip heatmap through
    :func:`~orstream.kernels._tip.tip_from_heatmap` and back to the frame's pixels."""
    model = backend.model
    if model.tip_channel is None:
        raise ValueError(f"model {model.name} has no tip heatmap channel")
    tip_channel = model.tip_channel
    for start in range(0, len(images), batch_size):
        chunk = [np.asarray(im, np.uint8) for im in images[start : start + batch_size]]
        x = model.preprocess(np.stack([to_model_input(im, model.input_size) for im in chunk]))
        logits = backend.run(x)
        for image, out in zip(chunk, logits, strict=True):
            shape = (int(image.shape[0]), int(image.shape[1]))
            tx, ty, conf = tip_from_heatmap(out[tip_channel])
            yield Detection(
                logits_to_mask(out[: model.n_classes], shape),
                input_to_image_px(tx, ty, model.input_size, shape),
                conf,
            )


def detect_frames_per_second(backend: Backend, data: NeedleSet, n: int = 200) -> float:
    """Frames/s of the whole per-frame path at batch 1 (letterbox, resize, normalise, run,
    mask and tip back to the frame), on up to ``n`` of ``data``'s frames after a warm-up."""
    images = [data.images[i % len(data)] for i in range(n)]
    list(detect(backend, images[:10], batch_size=1))
    t0 = time.perf_counter()
    for _ in detect(backend, images, batch_size=1):
        pass
    return n / (time.perf_counter() - t0)


def _rate(hits: npt.NDArray[np.bool_]) -> float | None:
    return round(float(hits.mean()), 4) if len(hits) else None


def score(backend: Backend, data: NeedleSet) -> dict[str, Any]:
    """Needle Dice, tip error (frame px and mm), detection and false-alarm rates of
    ``backend`` on ``data`` (frames in their own pixels), overall and per test aspect.

    ``needle_dice``: frames where the truth or the mask has needle pixels (a speck on a
    needle-free frame scores 0); ``needle_dice_needle_present``: frames whose truth shows the
    needle; ``needle_dice_gated``: the mask cleared where the tip confidence is below
    ``DETECT_PROB``. Tip errors are over frames whose tip is visible, whatever the confidence;
    ``detection_rate``/``false_alarm_rate``: confidence >= ``DETECT_PROB`` on frames with/
    without a visible tip; ``mask_false_alarm_rate``: needle-free frames with any mask pixel."""
    found = list(detect(backend, data.images))
    masks = [d.mask for d in found]
    dice = np.array([dice_scores(m, t, 2)[0, 0] for m, t in zip(masks, data.masks, strict=True)])
    conf = np.array([d.confidence for d in found])
    got = np.array([d.tip for d in found], np.float64).reshape(-1, 2)
    visible = np.isfinite(data.tips[:, 0])
    err_px = np.hypot(*(got - data.tips).T)  # NaN where no tip is visible
    err_mm = err_px * data.spacing_mm
    aspect = np.array(
        [TEST_ASPECTS[(s - SPLIT_SEEDS["test"]) % len(TEST_ASPECTS)][0] for s in data.seeds]
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
            "needle_dice": summary(dice[sel]),
            "needle_dice_needle_present": summary(dice[sel & has_needle]),
            "needle_dice_gated": summary(gated[sel]),
            "tip_error_px": summary(err_px[vis], 3),
            "tip_error_mm": summary(mm, 3),
            "tip_within_1mm": _rate(mm <= 1.0),
            "tip_within_2mm": _rate(mm <= 2.0),
            "detection_rate": _rate(conf[vis] >= DETECT_PROB),
            "false_alarm_rate": _rate(conf[~visible & sel] >= DETECT_PROB),
        }

    report: dict[str, Any] = {
        **block(np.ones(len(data), bool)),
        "mask_false_alarm_rate": _rate(predicted[~has_needle]),
        "by_aspect": {name: block(aspect == name) for name, _ in TEST_ASPECTS},
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


def evaluate(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """The evaluation report of ``spec`` on the test split (seeds from
    ``SPLIT_SEEDS["test"]``, never used in training, 2 frames each, ``options.size`` rows,
    default ``TEST_ROWS``; even seeds square, odd seeds 4:3 wide)."""
    rows = options.size or TEST_ROWS
    n_seeds = max(1, options.test_samples // EVAL_FRAMES_PER_SEED)
    data = render_needle(
        "test", n_seeds, frames_per_seed=EVAL_FRAMES_PER_SEED, rows=rows, progress=options.progress
    )
    runner = open_backend(spec, options)
    return {
        **report_header(spec, runner, options),
        "test_seeds": [SPLIT_SEEDS["test"], SPLIT_SEEDS["test"] + n_seeds],
        "frames_per_seed": EVAL_FRAMES_PER_SEED,
        "frame_span": f"first {PASSES} needle passes at {FPS:g} frames/s",
        "render_rows": rows,
        "aspects": {name: [rows, round(rows * ratio)] for name, ratio in TEST_ASPECTS},
        "detect_threshold": DETECT_PROB,
        **score(runner, data),
        "detect_frames_per_s_batch1": round(
            detect_frames_per_second(runner, data, options.speed_frames), 1
        ),
    }


def _fmt(s: dict[str, Any], key: str = "median", digits: int = 3) -> str:
    return f"{s[key]:.{digits}f}" if s.get("n") else "n/a"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def print_report(report: dict[str, Any]) -> None:
    """The evaluation report in a few lines."""
    print(
        f"{report['model']} on {report['frames']} fresh test frames "
        f"(seeds {report['test_seeds'][0]}..{report['test_seeds'][1] - 1}, "
        f"{report['render_rows']} rows), backend {report['backend']}; "
        f"{report['frames_tip_visible']} with the tip in view; needle-free frames with mask "
        f"pixels {_pct(report['mask_false_alarm_rate'])}:"
    )
    for name, b in (("all", report), *report["by_aspect"].items()):
        d, mm = b["needle_dice"], b["tip_error_mm"]
        present, gated = b["needle_dice_needle_present"], b["needle_dice_gated"]
        print(
            f"  {name:6s} needle Dice mean {_fmt(d, 'mean')} median {_fmt(d)} p5 {_fmt(d, 'p5')}"
            f" (needle present: mean {_fmt(present, 'mean')}; gated by the tip: mean "
            f"{_fmt(gated, 'mean')}); tip error median {_fmt(mm)} mm p95 {_fmt(mm, 'p95')} mm "
            f"(median {_fmt(b['tip_error_px'], digits=2)} px), within 1 mm "
            f"{_pct(b['tip_within_1mm'])}; detected {_pct(b['detection_rate'])}, "
            f"false alarms {_pct(b['false_alarm_rate'])}"
        )
    print(
        f"  {report['frames_per_s_batch1']:.0f} frames/s at batch 1 (model only), "
        f"{report['detect_frames_per_s_batch1']:.0f} frames/s image to mask and tip, "
        f"{report['threads']} thread(s); model {report['model_bytes'] / 1e6:.2f} MB"
    )
