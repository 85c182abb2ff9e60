"""The ``us-needle`` task's data: needle mask and needle-tip heatmap in intra-operative ultrasound.

Data: :class:`~._us.UltrasoundSimulator` with ``randomize=True`` (anatomy, scanner settings and
the needle's echo drawn from the seed), frames at random instants over the first ``PASSES``
needle passes (advance, pause, retract, hold, withdraw, out of view), so that the needle is in
most frames but not all. Seeds never overlap between splits (``NEEDLE_SPLIT_SEEDS``). Each seed
draws its frame shape: ``RENDER_ROWS`` rows and a width/height ratio in ``ASPECT_RANGE``
(linear-array images are often wider than tall). Frames reach the model by the letterbox
convention of ``segment_images``: black padding to a centred square, resized to the 128 x 128
input; tips are mapped with ``orstream.kernels.image_to_input_px``.

Targets: the mask is the simulator's needle label (3) as class 1; the heatmap is 1.0 at the
pixel nearest to ``needle_tip_px`` and a Gaussian of ``HEAT_SIGMA_PX`` (input px) around the
exact tip, all 0 when ``needle_visible`` is false. :func:`augment_needle` flips left-right (the
tip too), zooms, rotates and shifts a little, sometimes puts the frame on a scanner's screen
(letterboxed, smaller, with burnt-in text and a depth scale), and varies gain, gamma, TGC, blur,
resolution, noise and JPEG quality. The evaluation is in ``_train_needle_eval``.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from typing import Final, TextIO

import cv2
import numpy as np
import numpy.typing as npt

from ..kernels import (
    IntensityJitter,
    Progress,
    SegRecipe,
    TrainingData,
    TrainOptions,
    batches,
    fixed_batches,
    image_to_input_px,
    jitter_intensity,
    letterbox,
    scanner_border,
    to_model_input,
    warp_pair,
)
from ._train_jobs import map_jobs
from ._us import UltrasoundSimulator

U8 = npt.NDArray[np.uint8]
Tip = tuple[float, float]

NEEDLE_SPLIT_SEEDS: Final = {"train": 10_000_000, "val": 20_000_000, "test": 30_000_000}
"""First simulator seed of each split; a split of n seeds uses [base, base + n)."""
NEEDLE_FPS: Final = 30.0
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
NEEDLE_HEAT_SIGMA_PX: Final = 2.0
"""Standard deviation of the Gaussian tip target, model input px."""
NEEDLE_LABEL: Final = 3
_BATCH_STREAM: Final = 0x7E3
"""The task's number in the seed of each epoch's shuffle and augmentation."""

US_NEEDLE: Final = SegRecipe(
    name="us-needle",
    input_size=(128, 128),
    class_names=("background", "needle"),
    description="Needle mask and needle-tip heatmap (channel 2, logits) in linear-array "
    "B-mode ultrasound of in-plane nerve blocks, trained on the orstream ultrasound simulator "
    "with domain randomization; images letterboxed to a square",
    tip_heatmap=True,
)

NEEDLE_JITTER: Final = IntensityJitter(
    resolution=(0.25, 0.5, 0.85),
    blur=(0.3, 0.4, 1.1),
    ramp=(0.5, -0.6, 0.6),
    haze=(0.2, 0.02, 0.1),
    speckle=(0.4, 0.05, 0.3),
    noise=(0.4, 0.005, 0.03),
    gain=(0.5, 1.6),
    gamma=(0.65, 1.6),
    jpeg=(0.25, 30, 90),
)
"""Scanner and display changes of :func:`augment_needle` (the padding is kept black)."""
SCANNER_BORDER_P: Final = 0.4
"""Share of augmented training frames put on a scanner's screen (``scanner_border``)."""


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

    @classmethod
    def from_frames(
        cls,
        images: list[U8],
        masks: list[U8],
        *,
        tips: list[Tip],
        seeds: list[int],
        frames: list[int],
        spacing_mm: list[float],
    ) -> NeedleSet:
        """The set of per-frame lists: images and masks stacked when every shape is the same."""
        same = len({im.shape for im in images}) == 1
        return cls(
            np.stack(images) if same else images,
            np.stack(masks) if same else masks,
            np.array(tips, np.float64).reshape(-1, 2),
            np.array(seeds, np.int64),
            np.array(frames, np.int64),
            np.array(spacing_mm, np.float64),
        )


NeedleJob = tuple[int, int, int, int, tuple[int, int] | None]
"""(seed, rows, cols, frames, model input size or None for the frame's own pixels)."""
Rendered = tuple[list[U8], list[U8], list[Tip], list[int], float]


def needle_frame_shape(split: str, seed: int, rows: int | None = None) -> tuple[int, int]:
    """(H, W) of the frames of ``seed``: drawn from ``RENDER_ROWS`` and ``ASPECT_RANGE`` for
    train and val; for test ``rows`` (default ``TEST_ROWS``) by ``TEST_ASPECTS``."""
    if split == "test":
        h = rows or TEST_ROWS
        ratio = TEST_ASPECTS[(seed - NEEDLE_SPLIT_SEEDS["test"]) % len(TEST_ASPECTS)][1]
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


def render_needle_seed(job: NeedleJob) -> Rendered:
    """(images, masks, tips, frame indices, spacing mm) of ``job``'s seed: ``frames`` distinct
    instants of its first ``PASSES`` passes at its (rows, cols), letterboxed to the model
    input when one is given."""
    seed, rows, cols, n, size = job
    sim = UltrasoundSimulator(seed, fps=NEEDLE_FPS, size=(rows, cols), randomize=True)
    span = int(PASSES * sim.pass_s * NEEDLE_FPS)
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

    Seed ``NEEDLE_SPLIT_SEEDS[split] + j`` renders at :func:`needle_frame_shape`; with
    ``size`` (H, W) the frames, masks and tips are letterboxed to the model input (else they
    keep the frame's own pixels). Deterministic: the same arguments give the same frames.
    ``workers`` > 1 renders in that many processes.
    """
    if split not in NEEDLE_SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(NEEDLE_SPLIT_SEEDS)}")
    if n_seeds < 1 or frames_per_seed < 1:
        raise ValueError("need n_seeds >= 1 and frames_per_seed >= 1")
    base = NEEDLE_SPLIT_SEEDS[split]
    jobs: list[NeedleJob] = [
        (base + j, *needle_frame_shape(split, base + j, rows), frames_per_seed, size)
        for j in range(n_seeds)
    ]
    bar = Progress(n_seeds, stream=progress)
    images: list[U8] = []
    masks: list[U8] = []
    tips: list[Tip] = []
    seeds: list[int] = []
    frames: list[int] = []
    spacing: list[float] = []
    for job, got in map_jobs(render_needle_seed, jobs, workers):
        images.extend(got[0])
        masks.extend(got[1])
        tips.extend(got[2])
        frames.extend(got[3])
        seeds.extend([job[0]] * len(got[3]))
        spacing.extend([got[4]] * len(got[3]))
        bar.update(f"rendering {split} frames")
    return NeedleSet.from_frames(
        images, masks, tips=tips, seeds=seeds, frames=frames, spacing_mm=spacing
    )


# -- augmentation ---------------------------------------------------------------------------------
def flip_needle(image: U8, mask: U8, tip: Tip) -> tuple[U8, U8, Tip]:
    """Left-right mirror of a frame, its mask and its tip (x -> W - 1 - x)."""
    w = image.shape[1]
    return (
        np.ascontiguousarray(image[:, ::-1]),
        np.ascontiguousarray(mask[:, ::-1]),
        (w - 1 - tip[0], tip[1]),
    )


def augment_needle(image: U8, mask: U8, tip: Tip, rng: np.random.Generator) -> tuple[U8, U8, Tip]:
    """A randomly altered copy of ``image`` uint8 (H, W), ``mask`` uint8 (H, W) and ``tip``
    (x, y) px (NaN: none). Geometry changes all three (a tip moved out of the image becomes
    NaN); with probability ``SCANNER_BORDER_P`` the frame is then shown as a scanner's screen
    (``orstream.kernels.scanner_border``: shrunk into a letterboxed frame of width/height
    1.2-1.8 with burnt-in text and a depth scale in the black border; the mask and the tip
    move with it, the border is background); intensity changes the image only
    (:data:`NEEDLE_JITTER`); the black padding and border stay black."""
    h, w = image.shape
    img, lab = image, mask
    if rng.uniform() < 0.5:
        img, lab, tip = flip_needle(img, lab, tip)
    if rng.uniform() < 0.6:  # zoom, small rotation and shift about the centre
        scale = float(np.exp(rng.uniform(np.log(0.8), np.log(1.3))))
        angle = float(rng.uniform(-8, 8))
        m = np.asarray(
            cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, scale), np.float64
        )
        m[:, 2] += rng.uniform(-0.08, 0.08, 2) * (w, h)
        img, lab = warp_pair(img, lab, m)
        x, y = m @ np.array([tip[0], tip[1], 1.0])
        inside = -0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5
        tip = (float(x), float(y)) if inside else (math.nan, math.nan)
    if rng.uniform() < SCANNER_BORDER_P:  # on a scanner's screen: letterboxed, text, scale
        img, lab, m = scanner_border(img, lab, rng)
        x, y = m @ np.array([tip[0], tip[1], 1.0])
        tip = (float(x), float(y))
    pad = img == 0
    out = jitter_intensity(img, rng, NEEDLE_JITTER)
    out[pad] = 0
    return out, np.ascontiguousarray(lab), tip


# -- the training data ---------------------------------------------------------------------------
def needle_training_data(options: TrainOptions) -> TrainingData:
    """Simulator frames of the train seeds (4 per seed, augmented per epoch) and of the val
    seeds (2 per seed), letterboxed to the model input."""
    r = US_NEEDLE
    n_train = max(1, options.samples // TRAIN_FRAMES_PER_SEED)
    n_val = max(1, options.val_samples // EVAL_FRAMES_PER_SEED)
    render = functools.partial(
        render_needle, size=r.input_size, workers=options.workers, progress=options.progress
    )
    train = render("train", n_train, frames_per_seed=TRAIN_FRAMES_PER_SEED)
    val = render("val", n_val, frames_per_seed=EVAL_FRAMES_PER_SEED)
    seeds = NEEDLE_SPLIT_SEEDS
    doc = {
        "simulator": f"orstream.sim.UltrasoundSimulator(seed, fps={NEEDLE_FPS:g}, size=(H, W), "
        "randomize=True)",
        "frames": f"uniform over the first {PASSES} needle passes of each seed",
        "train_seeds": [seeds["train"], seeds["train"] + n_train],
        "val_seeds": [seeds["val"], seeds["val"] + n_val],
        "test_seeds_from": seeds["test"],
        "frames_per_seed": {"train": TRAIN_FRAMES_PER_SEED, "val": EVAL_FRAMES_PER_SEED},
        "train_frames": len(train),
        "val_frames": len(val),
        "train_tip_visible_share": round(float(np.isfinite(train.tips[:, 0]).mean()), 4),
        "render_rows": list(RENDER_ROWS),
        "aspect_range": list(ASPECT_RANGE),
        "to_input": "letterbox (black padding to a centred square), resize to "
        f"{r.input_size[0]} x {r.input_size[1]}",
        "labels": "needle = simulator label 3",
        "heat_target": f"Gaussian sigma {NEEDLE_HEAT_SIGMA_PX:g} input px around needle_tip_px, "
        "1.0 at the nearest pixel, 0 when needle_visible is false",
        "augmentation": "orstream.sim.augment_needle (scanner borders in "
        f"{SCANNER_BORDER_P:.0%} of the frames)",
    }
    return TrainingData(
        batches(
            np.asarray(train.images),
            np.asarray(train.masks),
            r.normalization,
            batch_size=options.batch_size,
            seed=options.seed,
            stream=_BATCH_STREAM,
            augment=augment_needle,
            tips=train.tips,
            heat_sigma=NEEDLE_HEAT_SIGMA_PX,
        ),
        fixed_batches(
            np.asarray(val.images),
            np.asarray(val.masks),
            r.normalization,
            tips=val.tips,
            heat_sigma=NEEDLE_HEAT_SIGMA_PX,
        ),
        len(train),
        len(val),
        doc,
    )
