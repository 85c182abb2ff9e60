"""The ``fluoro-catheter`` task's data: catheter mask and tip heatmap in X-ray fluoroscopy.

Data: :class:`~._fluoro.FluoroSimulator` runs drawn per seed (:func:`fluoro_run`: anatomy
hepatic with the real catheter centerlines when the data are present, arch or coronary; dose,
log or linear detector response, collimation), a few frames per run at random instants. Each
frame gives the model three *views* of 256 px, the scales the tracker uses
(``orstream.kernels.RoiTipTracker``): the whole frame shrunk 4x (the search pass), a 2x crop
near the tip, and a native-resolution crop around the tip (the ROI pass; sometimes anywhere, so
the model also learns "no tip here"). Training views are fresh every epoch (new seeds);
validation and test seeds never overlap it. Augmentation: flips and quarter turns (tip moved
with them), gamma, blur, noise. The evaluation is in ``_train_fluoro_eval``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ..kernels import (
    Progress,
    SegRecipe,
    TrainingData,
    TrainOptions,
    heatmap_target,
    normalize_for_model,
    p99_normalization,
    random_blur,
    random_noise,
    unet,
)
from ._fluoro import FluoroSimulator
from ._train_jobs import map_jobs

_INPUT: Final = 256
FLUORO_SPLIT_SEEDS: Final = {"train": 4_000_000, "val": 5_000_000, "test": 6_000_000}
"""First simulator seed of each split (disjoint ranges)."""
SEED_STRIDE: Final = 10_000
"""Training runs start at the train split's first seed + ``--seed`` x SEED_STRIDE: another
``--seed`` (a fine-tuning stage) sees fresh runs."""
LOW_DOSE_RANGE: Final = (10.0, 40.0)
"""Photons per pixel of the low-dose training runs (``TrainOptions.low_dose``): below the
40-400 that :func:`fluoro_run` draws, down to a quarter of its lowest."""
FRAMES_PER_SEED: Final = 6
"""Rendered frames per simulator run; each gives three views."""
RUN_S: Final = 30.0
"""Length of a training run (s): frames are drawn from its first RUN_S seconds."""
HEAT_SIGMA: Final = 1.5
"""Gaussian width (model px) of the tip heatmap target."""
SCALES: Final = (4, 2, 1)
"""Frame px per model px of the three views (for a 1024 px frame)."""
FLUORO_TRAIN_CROP: Final = 128
"""Training sees random FLUORO_TRAIN_CROP px windows of the views (two per view, most around
the tip): the network is fully convolutional, so it runs on whole 256 px views after training
at a quarter of the cost per sample."""

FLUORO_CATHETER: Final = SegRecipe(
    name="fluoro-catheter",
    input_size=(_INPUT, _INPUT),
    class_names=("background", "catheter"),
    architecture=unet(8, res_units=1),
    normalization=p99_normalization(clip=1.5),
    description="catheter/guidewire mask and tip heatmap in X-ray fluoroscopy (grey, dense is "
    "dark), trained on the orstream fluoroscopy simulator; runs on the whole frame shrunk to "
    "256 px and on 256 px crops around the tip",
    tip_heatmap=True,
    dice_over_batch=True,
)

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
FluoroView = tuple[F32, U8, F32, bool]
"""Normalised image (H, W), catheter mask (H, W), heat target (H, W), tip inside."""


def fluoro_run(seed: int, *, dose: float | None = None) -> FluoroSimulator:
    """The randomised run of ``seed``: anatomy, dose, detector response and collimation;
    ``dose`` (photons per pixel) replaces the drawn dose and leaves the rest as drawn."""
    rng = np.random.default_rng([seed, 0xCA7])
    anatomy = str(rng.choice(["hepatic", "hepatic", "arch", "coronary"]))
    drawn = float(np.exp(rng.uniform(np.log(40.0), np.log(400.0))))
    return FluoroSimulator(
        seed,
        anatomy=anatomy,
        dose=drawn if dose is None else dose,
        response=str(rng.choice(["log", "log", "linear"])),
        collimation=str(rng.choice(["circle", "rect", "none"])),
        fps=15.0,
    )


def fluoro_view(
    image: npt.NDArray[Any],
    labels: U8,
    tip: tuple[float, float],
    box: tuple[int, int, int],
) -> FluoroView:
    """The model's view of the square ``box`` (x0, y0, side) px of a frame, shrunk to 256 px.

    Mask: catheter (label 1) covering >= 25 % of a model pixel. Tip mapped to model px (pixel
    centres: model px j covers frame px [x0 + j s, x0 + (j + 1) s)).
    """
    x0, y0, side = box
    s = side / _INPUT
    crop = np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side], np.float32)
    cath = (labels[y0 : y0 + side, x0 : x0 + side] == 1).astype(np.float32)
    if side != _INPUT:
        crop = np.asarray(cv2.resize(crop, (_INPUT, _INPUT), interpolation=cv2.INTER_AREA))
        cath = np.asarray(cv2.resize(cath, (_INPUT, _INPUT), interpolation=cv2.INTER_AREA))
    x = normalize_for_model(crop, FLUORO_CATHETER.normalization)[0, 0]
    tx, ty = (tip[0] - x0 + 0.5) / s - 0.5, (tip[1] - y0 + 0.5) / s - 0.5
    heat = heatmap_target((tx, ty), (_INPUT, _INPUT), HEAT_SIGMA)
    return x, (cath >= 0.25).astype(np.uint8), heat, bool(heat.max() >= 1.0)


def _box(frame_hw: tuple[int, int], centre: tuple[float, float], side: int) -> tuple[int, int, int]:
    h, w = frame_hw
    side = min(side, h, w)
    x0 = int(np.clip(round(centre[0] - side / 2), 0, w - side))
    y0 = int(np.clip(round(centre[1] - side / 2), 0, h - side))
    return x0, y0, side


def fluoro_frame_views(
    image: npt.NDArray[Any], labels: U8, tip: tuple[float, float], rng: np.random.Generator
) -> list[FluoroView]:
    """Three views of a frame: whole (4x), a 2x crop and a native crop near the tip."""
    h, w = image.shape
    side = min(h, w)
    out = [fluoro_view(image, labels, tip, _box((h, w), (w / 2, h / 2), side))]
    for scale in SCALES[1:]:
        crop = _INPUT * scale * side // 1024
        if scale == 1 and rng.uniform() < 0.15:  # anywhere: often no tip in view
            centre = (rng.uniform(0, w), rng.uniform(0, h))
        else:
            spread = 0.3 * crop if scale > 1 else 0.15 * crop
            centre = (tip[0] + rng.normal(0, spread), tip[1] + rng.normal(0, spread))
        out.append(fluoro_view(image, labels, tip, _box((h, w), centre, crop)))
    return out


def fluoro_frame_indices(sim: FluoroSimulator, frames: int, rng: np.random.Generator) -> list[int]:
    """``frames`` distinct frame indices of a 30 s run: half anywhere, half from the start of an
    injection to 1 s after it stops (wash-in and peak: the tip fades into the contrast and a
    lost track is hardest to hold; uniform draws give these frames about a fifth of the time)."""
    total = round(RUN_S * sim.fps)
    c = sim.describe()["contrast"]
    windows: list[int] = []
    t = float(c["first_injection_s"])
    while t < RUN_S:
        lo, hi = round(t * sim.fps), round((t + c["injection_s"] + 1.0) * sim.fps)
        windows.extend(range(max(lo, 0), min(hi, total)))
        t += float(c["period_s"])
    chosen: set[int] = set()
    n_contrast = min(frames // 2, len(windows))
    if n_contrast:
        chosen.update(int(i) for i in rng.choice(windows, n_contrast, replace=False))
    rest = [i for i in range(total) if i not in chosen]
    chosen.update(int(i) for i in rng.choice(rest, frames - len(chosen), replace=False))
    return sorted(chosen)


def low_dose_for(seed: int, share: float) -> float | None:
    """The dose (photons/px) run ``seed`` is rendered at when a ``share`` of training runs is
    low-dose: log-uniform in ``LOW_DOSE_RANGE`` for that share of seeds, else None (drawn)."""
    rng = np.random.default_rng([seed, 0xD05E])
    if share <= 0.0 or rng.uniform() >= share:
        return None
    lo, hi = LOW_DOSE_RANGE
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _render_seed(args: tuple[int, int, float]) -> list[FluoroView]:
    """The views of ``frames`` frames of run ``seed`` (:func:`fluoro_frame_indices`; args:
    seed, frames, low-dose share)."""
    seed, frames, low_dose = args
    rng = np.random.default_rng([seed, 0x71E])
    sim = fluoro_run(seed, dose=low_dose_for(seed, low_dose))
    out: list[FluoroView] = []
    for index in fluoro_frame_indices(sim, frames, rng):
        frame = sim.render(index)
        tip = (float(frame.truth["tip_px"][0]), float(frame.truth["tip_px"][1]))
        out.extend(fluoro_frame_views(frame.image, frame.labels, tip, rng))
    return out


def augment_fluoro_view(v: FluoroView, rng: np.random.Generator) -> FluoroView:
    """Flips and quarter turns (all arrays together), gamma, blur and noise on the image."""
    x, y, heat, inside = v
    k, flip = int(rng.integers(0, 4)), bool(rng.uniform() < 0.5)
    if flip:
        x, y, heat = x[:, ::-1], y[:, ::-1], heat[:, ::-1]
    x, y, heat = (np.ascontiguousarray(np.rot90(a, k)) for a in (x, y, heat))  # type: ignore[assignment]
    clip = float(FLUORO_CATHETER.normalization["clip"])
    if rng.uniform() < 0.5:
        x = clip * (np.clip(x / clip, 0, 1) ** float(np.exp(rng.uniform(-0.5, 0.5))))
    x = random_blur(x, rng, (0.3, 0.3, 1.0))
    x = random_noise(x, rng, (0.4, 0.005, 0.04))
    return np.clip(x, 0, clip).astype(np.float32), y, heat, inside


def fluoro_subcrop(
    v: FluoroView, rng: np.random.Generator, size: int = FLUORO_TRAIN_CROP
) -> FluoroView:
    """A ``size`` px window of a view: around the tip (70 % when there is one) or anywhere."""
    x, y, heat, inside = v
    h, w = x.shape
    if inside and rng.uniform() < 0.7:
        r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
        top = int(np.clip(r - rng.integers(size // 8, size - size // 8), 0, h - size))
        left = int(np.clip(c - rng.integers(size // 8, size - size // 8), 0, w - size))
    else:
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    win = (slice(top, top + size), slice(left, left + size))
    hw = np.ascontiguousarray(heat[win])
    return np.ascontiguousarray(x[win]), np.ascontiguousarray(y[win]), hw, bool(hw.max() >= 1.0)


def _views(
    split: str, first: int, n_seeds: int, workers: int, low_dose: float = 0.0
) -> Iterator[FluoroView]:
    base = FLUORO_SPLIT_SEEDS[split] + first
    jobs = [(base + j, FRAMES_PER_SEED, low_dose) for j in range(n_seeds)]
    for _, got in map_jobs(_render_seed, jobs, workers, chunksize=2):
        yield from got


def _stack(views: list[FluoroView]) -> tuple[F32, U8, F32]:
    return (
        np.stack([v[0] for v in views])[:, None],
        np.stack([v[1] for v in views]),
        np.stack([v[2] for v in views]),
    )


def fluoro_training_data(options: TrainOptions) -> TrainingData:
    """Fresh views every epoch (``options.samples`` training windows per epoch, two per view,
    new seeds each epoch), shuffled within a pool of 8 batches; a fixed validation set of
    ``options.val_samples`` whole views."""
    per_seed = FRAMES_PER_SEED * len(SCALES)
    seeds_per_epoch = max(1, math.ceil(options.samples / (2 * per_seed)))
    batch = options.batch_size

    def epoch_batches(epoch: int) -> Iterator[tuple[F32, U8, F32]]:
        rng = np.random.default_rng([options.seed, epoch, 0xF1A])
        pool: list[FluoroView] = []
        first = options.seed * SEED_STRIDE + epoch * seeds_per_epoch
        stream = _views("train", first, seeds_per_epoch, options.workers, options.low_dose)
        for v in stream:
            turned = augment_fluoro_view(v, rng)
            pool.extend(fluoro_subcrop(turned, rng) for _ in range(2))
            if len(pool) >= 8 * batch:
                order = rng.permutation(len(pool))
                take = [pool[i] for i in order[:batch]]
                pool = [pool[i] for i in order[batch:]]
                yield _stack(take)
        while len(pool) >= batch:
            yield _stack(pool[:batch])
            pool = pool[batch:]

    n_val_seeds = max(1, math.ceil(options.val_samples / per_seed))
    bar = Progress(n_val_seeds * per_seed, stream=options.progress)
    val_views = []
    for v in _views("val", 0, n_val_seeds, options.workers):
        val_views.append(v)
        bar.update("rendering validation views")
    val = [_stack(val_views[i : i + 32]) for i in range(0, len(val_views), 32)]
    seeds = FLUORO_SPLIT_SEEDS
    doc = {
        "simulator": "orstream.sim.FluoroSimulator (anatomy, dose, response, collimation drawn "
        "per seed: orstream.sim.fluoro_run)",
        "views_per_frame": "whole frame at 1/4, a 2x crop near the tip, a native 256 px crop "
        "(15 % anywhere)",
        "frames_per_seed": FRAMES_PER_SEED,
        "frame_choice": "half anywhere in 30 s, half from an injection's start to 1 s after it "
        "stops (orstream.sim.fluoro_frame_indices)",
        "train_seeds_from": seeds["train"] + options.seed * SEED_STRIDE,
        "train_views_per_epoch": seeds_per_epoch * per_seed,
        "train_windows": f"two random {FLUORO_TRAIN_CROP} px windows per view (70 % around the "
        "tip)",
        "fresh_seeds_every_epoch": True,
        "low_dose_share": options.low_dose,
        "low_dose_photons_per_px": list(LOW_DOSE_RANGE),
        "val_seeds": [seeds["val"], seeds["val"] + n_val_seeds],
        "val_views": len(val_views),
        "test_seeds_from": seeds["test"],
        "augmentation": "orstream.sim.augment_fluoro_view",
        "heat_sigma_px": HEAT_SIGMA,
    }
    return TrainingData(epoch_batches, val, 2 * seeds_per_epoch * per_seed, len(val_views), doc)
