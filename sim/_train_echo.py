"""The ``echo-lv`` task: simulator-drawn echo frames, their augmentation and their evaluation.

Data: :class:`~._echo.EchoSimulator` with ``randomize=True`` (scanner settings, probe pose,
anatomy, EF and heart rate drawn from the seed), views A4C and A2C alternating by seed, frames at
random instants over about three cycles. Seeds never overlap between splits:
``ECHO_SPLIT_SEEDS`` gives each split its own range, so validation and test frames come from
anatomies the training never saw. On top of the simulator's own randomisation,
:func:`augment_echo` imitates other scanners and displays: affine (scale, rotation, shift),
sector cropping, gain, gamma and depth-gain ramps, haze, blur, resolution loss, noise, JPEG
artefacts and burned-in text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Final, TextIO

import cv2
import numpy as np
import numpy.typing as npt

from ..kernels import (
    Backend,
    IntensityJitter,
    ModelSpec,
    Progress,
    SegRecipe,
    SegTask,
    TrainingData,
    TrainOptions,
    batches,
    dice_scores,
    eval_backend,
    eval_report_header,
    fixed_batches,
    jitter_intensity,
    segment_frames_per_second,
    segment_images,
    summary_stats,
    warp_pair,
)
from ._echo import EchoSimulator
from ._heart import LABEL_NAMES
from ._train_jobs import map_jobs

ECHO_SPLIT_SEEDS: Final = {"train": 1_000_000, "val": 2_000_000, "test": 3_000_000}
"""First simulator seed of each split; a split of n seeds uses [base, base + n)."""
ECHO_TRAIN_VIEWS: Final = ("a4c", "a2c")
ECHO_FRAME_RANGE: Final = 150
"""Frames are drawn from [0, 150) at 50 frames/s: 3 s, at least 2.5 cardiac cycles."""
ECHO_RENDER_SIZES: Final = (112, 112, 128, 160)
"""Training frames are rendered at one of these square sizes (drawn per seed) and resized to
the input: speckle and resolution vary as between scanners."""
SEPTAL_DROPOUT_RANGE: Final = (0.5, 1.0)
"""Septal dropout of the clips drawn to lose septal echo (``render_echo(septal_dropout=)``)."""
_BATCH_STREAM: Final = 0xA06
"""The task's number in the seed of each epoch's shuffle and augmentation."""

U8 = npt.NDArray[np.uint8]

ECHO_LV: Final = SegRecipe(
    name="echo-lv",
    input_size=(112, 112),
    class_names=LABEL_NAMES,
    description="LV cavity, LV myocardium, RV, LA and RA in apical 4- and 2-chamber echo "
    "(B-mode, grey), trained on the orstream echo simulator with domain randomization",
)

ECHO_JITTER: Final = IntensityJitter(
    resolution=(0.3, 0.45, 0.8),
    blur=(0.3, 0.4, 1.2),
    lit_haze=(0.3, 0.02, 0.12),
    ramp=(0.5, -0.5, 0.5),
    speckle=(0.4, 0.05, 0.3),
    noise=(0.4, 0.005, 0.03),
    gain=(0.4, 1.6),
    gamma=(0.6, 1.7),
    jpeg=(0.3, 25, 85),
)
"""Scanner and display changes of :func:`augment_echo` (haze on the sector only)."""


@dataclass(frozen=True)
class EchoSet:
    """Rendered frames: ``images`` uint8 (N, H, W), ``labels`` uint8 (N, H, W) class indices,
    and per frame the simulator ``seeds`` (N,), ``views`` and ``frames`` (N,) indices."""

    images: U8
    labels: U8
    seeds: npt.NDArray[np.int64]
    views: tuple[str, ...]
    frames: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.images)


def _septal_dropout_for(seed: int, share: float) -> float:
    """The septal dropout (``EchoSimulator(septal_dropout=)``) clip ``seed`` is rendered with
    when a ``share`` of clips loses septal echo: uniform in ``SEPTAL_DROPOUT_RANGE`` for that
    share of seeds (``share`` 1: every clip), else 0."""
    rng = np.random.default_rng([seed, 0x5E97])
    if share <= 0.0 or rng.uniform() >= share:
        return 0.0
    return float(rng.uniform(*SEPTAL_DROPOUT_RANGE))


def _render_seed(
    args: tuple[int, str, tuple[int, ...], int, tuple[int, int], float],
) -> tuple[list[U8], list[U8], list[int]]:
    seed, view, sizes, per_seed, out_size, septal = args
    rng = np.random.default_rng([seed, 0x5E6])
    side = int(rng.choice(sizes))
    sim = EchoSimulator(
        seed,
        view=view,
        size=(side, side),
        randomize=True,
        septal_dropout=_septal_dropout_for(seed, septal),
    )
    frames = sorted(int(f) for f in rng.choice(ECHO_FRAME_RANGE, per_seed, replace=False))
    images, labels = [], []
    for index in frames:
        frame = sim.render(index)
        image, label = frame.image, frame.labels
        if (side, side) != out_size:
            image = np.asarray(cv2.resize(image, out_size[::-1], interpolation=cv2.INTER_AREA))
            label = np.asarray(cv2.resize(label, out_size[::-1], interpolation=cv2.INTER_NEAREST))
        images.append(image)
        labels.append(label)
    return images, labels, frames


def render_echo(
    split: str,
    n_seeds: int,
    *,
    size: tuple[int, int] = (112, 112),
    frames_per_seed: int = 2,
    render_sizes: tuple[int, ...] | None = None,
    views: tuple[str, ...] = ECHO_TRAIN_VIEWS,
    workers: int = 1,
    septal_dropout: float = 0.0,
    progress: TextIO | None = sys.stderr,
) -> EchoSet:
    """``n_seeds * frames_per_seed`` echo frames of ``split`` ("train", "val", "test").

    Seed ``ECHO_SPLIT_SEEDS[split] + j`` renders view ``views[j % len(views)]`` at a square
    size drawn from ``render_sizes`` (default: ``size`` itself), resized to ``size`` (H, W)
    (area for images, nearest for labels). Deterministic: the same arguments give the same
    frames. ``workers`` > 1 renders in that many processes. ``septal_dropout``: the share of
    clips whose septum loses its echo (a dropout drawn in ``SEPTAL_DROPOUT_RANGE``).
    """
    if split not in ECHO_SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(ECHO_SPLIT_SEEDS)}")
    if n_seeds < 1 or not 1 <= frames_per_seed <= ECHO_FRAME_RANGE:
        raise ValueError(f"need n_seeds >= 1 and 1 <= frames_per_seed <= {ECHO_FRAME_RANGE}")
    sizes = render_sizes or (size[0],)
    base = ECHO_SPLIT_SEEDS[split]
    jobs = [
        (base + j, views[j % len(views)], sizes, frames_per_seed, size, septal_dropout)
        for j in range(n_seeds)
    ]
    bar = Progress(n_seeds, stream=progress)
    images: list[U8] = []
    labels: list[U8] = []
    seeds: list[int] = []
    out_views: list[str] = []
    frames: list[int] = []
    for job, got in map_jobs(_render_seed, jobs, workers):
        images.extend(got[0])
        labels.extend(got[1])
        frames.extend(got[2])
        seeds.extend([job[0]] * len(got[2]))
        out_views.extend([job[1]] * len(got[2]))
        bar.update(f"rendering {split} frames")
    return EchoSet(
        np.stack(images),
        np.stack(labels),
        np.array(seeds, np.int64),
        tuple(out_views),
        np.array(frames, np.int64),
    )


# -- augmentation ---------------------------------------------------------------------------------
_WORDS: Final = (
    "Gen",
    "THI",
    "Crd",
    "MI 0.9",
    "TIS 0.7",
    "P21",
    "S",
    "Res",
    "HR 72",
    "19",
    "ADULT",
    "2D",
    "G 54",
    "DR 60",
    "FR 47Hz",
    "16cm",
    "Pen",
)


def _burn_text(image: U8, rng: np.random.Generator) -> None:
    """Scanner annotations in the corners and along the right edge, in place."""
    h, w = image.shape
    for _ in range(int(rng.integers(1, 6))):
        text = str(rng.choice(_WORDS))
        scale = float(rng.uniform(0.22, 0.38)) * h / 112
        corner = int(rng.integers(0, 4))
        x = int(rng.uniform(0.0, 0.15) * w) if corner in (0, 2) else int(rng.uniform(0.8, 0.9) * w)
        y = int(rng.uniform(0.04, 0.2) * h) if corner in (0, 1) else int(rng.uniform(0.3, 0.98) * h)
        grey = int(rng.integers(120, 256))
        cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, grey, 1, cv2.LINE_AA)
    if rng.uniform() < 0.5:  # depth marks or an orientation dot
        x = int(rng.uniform(0.55, 0.95) * w)
        for y in range(int(0.1 * h), h, int(rng.integers(6, 14))):
            image[y, x] = int(rng.integers(100, 220))


def _sector_crop(image: U8, labels: U8, rng: np.random.Generator) -> None:
    """Narrow the sector and/or shorten the depth (image and labels zeroed outside), in place."""
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    apex_x = w / 2 + float(rng.normal(0.0, 0.02 * w))
    angle = np.degrees(np.arctan2(xx - apex_x, yy + 1.0))
    left, right = -float(rng.uniform(25, 50)), float(rng.uniform(25, 50))
    keep = (angle > left) & (angle < right)
    if rng.uniform() < 0.5:
        keep &= np.hypot(xx - apex_x, yy) < float(rng.uniform(0.8, 1.0)) * h
    image[~keep] = 0
    labels[~keep] = 0


def augment_echo(image: U8, labels: U8, rng: np.random.Generator) -> tuple[U8, U8]:
    """A randomly altered copy of ``image`` uint8 (H, W) and ``labels`` uint8 (H, W).

    Geometry changes both (labels by nearest neighbour); intensity changes the image only
    (:data:`ECHO_JITTER`, then burned-in text). No left-right flip: the model learns the
    standard (LV on the screen right) orientation.
    """
    h, w = image.shape
    img = image.copy()
    lab = labels.copy()
    if rng.uniform() < 0.35:
        _sector_crop(img, lab, rng)
    if rng.uniform() < 0.85:  # affine about the image centre
        scale = float(np.exp(rng.uniform(np.log(0.5), np.log(1.15))))
        aspect = float(rng.uniform(0.88, 1.12))
        angle = float(rng.uniform(-12, 12))
        m = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale), np.float64)
        m[0, :2] *= aspect
        m[:, 2] += rng.uniform(-0.1, 0.1, 2) * (w, h) + ((1 - aspect) * w / 2, 0)
        img, lab = warp_pair(img, lab, m)
    img = jitter_intensity(img, rng, ECHO_JITTER)
    if rng.uniform() < 0.5:
        _burn_text(img, rng)
    return img, lab


# -- the task: training data, evaluation --------------------------------------------------------
def _training_data(options: TrainOptions) -> TrainingData:
    """Simulator frames of the train and val seeds (2 per seed), augmented per epoch."""
    r = ECHO_LV
    train = render_echo(
        "train",
        max(1, options.samples // 2),
        size=r.input_size,
        render_sizes=ECHO_RENDER_SIZES,
        workers=options.workers,
        progress=options.progress,
    )
    val = render_echo(
        "val",
        max(1, options.val_samples // 2),
        size=r.input_size,
        workers=options.workers,
        progress=options.progress,
    )
    seeds = ECHO_SPLIT_SEEDS
    doc = {
        "simulator": "orstream.sim.EchoSimulator(randomize=True)",
        "views": list(ECHO_TRAIN_VIEWS),
        "train_seeds": [seeds["train"], seeds["train"] + len(train) // 2],
        "val_seeds": [seeds["val"], seeds["val"] + len(val) // 2],
        "test_seeds_from": seeds["test"],
        "frames_per_seed": 2,
        "train_frames": len(train),
        "val_frames": len(val),
        "render_sizes": list(ECHO_RENDER_SIZES),
        "augmentation": "orstream.sim.augment_echo",
    }
    return TrainingData(
        batches(
            train.images,
            train.labels,
            r.normalization,
            batch_size=options.batch_size,
            seed=options.seed,
            stream=_BATCH_STREAM,
            augment=augment_echo,
        ),
        fixed_batches(val.images, val.labels, r.normalization),
        len(train),
        len(val),
        doc,
    )


def score_echo(backend: Backend, data: EchoSet) -> dict[str, Any]:
    """Dice per class (summary statistics), per view for each class, and the worst LV frames,
    of ``backend`` on ``data`` through the full segmentation path (letterbox, resize)."""
    masks = np.stack(list(segment_images(backend, data.images, batch_size=32)))
    dice = dice_scores(masks, data.labels, backend.model.n_classes)
    names = backend.model.class_names[1:]
    views = np.array(data.views)
    report: dict[str, Any] = {"frames": len(data), "dice": {}, "dice_by_view": {}}
    for c, name in enumerate(names):
        report["dice"][name] = summary_stats(dice[:, c])
        report["dice_by_view"][name] = {
            v: summary_stats(dice[views == v, c]) for v in sorted(set(data.views))
        }
    worst = np.argsort(np.nan_to_num(dice[:, 0], nan=1.0))[:5]
    report["worst_lv"] = [
        {
            "seed": int(data.seeds[i]),
            "view": data.views[i],
            "frame": int(data.frames[i]),
            "dice": round(float(dice[i, 0]), 4),
        }
        for i in worst
    ]
    return report


def score_septal_dropout(
    backend: Backend, n_seeds: int, side: int, progress: Any
) -> dict[str, Any]:
    """Dice of ``backend`` on apical four-chamber test clips (``n_seeds`` seeds, 2 frames each,
    ``side`` px), as rendered and again with the interventricular septum's echo lost
    (``SEPTAL_DROPOUT_RANGE``): the faint septum an LV mask can leak across into the RV."""
    scores = [
        score_echo(
            backend,
            render_echo(
                "test",
                n_seeds,
                size=(side, side),
                views=("a4c",),
                septal_dropout=d,
                progress=progress,
            ),
        )
        for d in (0.0, 1.0)
    ]
    return {
        "frames": scores[1]["frames"],
        "septal_dropout": list(SEPTAL_DROPOUT_RANGE),
        "dice_without_dropout": scores[0]["dice"],
        "dice": scores[1]["dice"],
        "worst_lv": scores[1]["worst_lv"],
    }


def _evaluate(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """The evaluation report of ``spec`` on the test split (seeds from
    ``ECHO_SPLIT_SEEDS["test"]``, never used in training, 2 frames each), rendered at
    ``options.size`` px square (default: the model's input), and the same clips with and
    without septal dropout (:func:`score_septal_dropout`)."""
    side = options.size or spec.input_size[0]
    n_seeds = max(1, options.test_samples // 2)
    data = render_echo("test", n_seeds, size=(side, side), progress=options.progress)
    runner = eval_backend(spec, options)
    return {
        **eval_report_header(spec, runner, options),
        "test_seeds": [ECHO_SPLIT_SEEDS["test"], ECHO_SPLIT_SEEDS["test"] + n_seeds],
        "frames_per_seed": 2,
        "frame_range": [0, ECHO_FRAME_RANGE],
        "render_size": [side, side],
        **score_echo(runner, data),
        "septal_dropout_set": score_septal_dropout(runner, n_seeds, side, options.progress),
        "segment_frames_per_s_batch1": round(
            segment_frames_per_second(runner, list(data.images), options.speed_frames), 1
        ),
    }


ECHO_TASK: Final = SegTask(ECHO_LV, _training_data, _evaluate)
"""The ``echo-lv`` task: recipe, training data, evaluation."""
