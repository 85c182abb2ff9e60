"""The ``us-nerve-vessel`` task: real regional-anaesthesia ultrasound (nerve, vessel).

Data: the usgra-seg training images (:mod:`._dataset_usgra`: reading, the fixed near-duplicate
aware split). Training images are letterboxed to a square (black padding) and resized to the
model input exactly as ``orstream.kernels.segment_images`` does at inference, then augmented
afresh per sample (:func:`augment_usgra`): left-right flip, affine (scale, aspect, rotation,
shift), shorter depth or narrower field of view, resolution loss, blur, depth-gain ramp,
speckle-like and additive noise, gain, gamma and JPEG artefacts. ``--samples`` is the number
of augmented samples per epoch (the training images are cycled in a fresh order). The report
scores the validation split, each image at its own size.
"""

from __future__ import annotations

from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ..kernels import (
    CONFIDENCE_METHOD,
    Backend,
    IntensityJitter,
    ModelSpec,
    SegRecipe,
    SegTask,
    TrainingData,
    TrainOptions,
    batches,
    confidence_report,
    dice_scores,
    eval_backend,
    eval_report_header,
    fixed_batches,
    image_confidence,
    jitter_intensity,
    letterbox,
    segment_frames_per_second,
    segment_images_by_class,
    summary_stats,
    to_model_input,
    unet,
    warp_pair,
)
from ._dataset_usgra import (
    DUP_SCORE,
    USGRA_FOLDS,
    USGRA_SPLIT_SEED,
    VAL_FRACTION,
    UsgraSet,
    image_geometry,
    load_usgra,
    near_duplicate_groups,
    usgra_folds,
)

U8 = npt.NDArray[np.uint8]

US_NERVE_VESSEL: Final = SegRecipe(
    name="us-nerve-vessel",
    input_size=(256, 256),
    class_names=("background", "nerve", "vessel"),
    architecture=unet(16, res_units=2, norm="instance"),
    description="peripheral nerve and blood vessel in real linear-array B-mode ultrasound for "
    "regional anaesthesia (grey), trained on the usgra-seg images (CC-BY 4.0)",
)

USGRA_JITTER: Final = IntensityJitter(
    resolution=(0.25, 0.5, 0.85),
    blur=(0.25, 0.4, 1.2),
    ramp=(0.5, -0.6, 0.6),
    speckle=(0.3, 0.05, 0.25),
    noise=(0.3, 0.005, 0.03),
    gain=(0.6, 1.6),
    gamma=(0.7, 1.5),
    jpeg=(0.2, 40, 90),
)
"""Scanner and display changes of :func:`augment_usgra` (no haze)."""
BAD_DICE_BY_CLASS: Final = {"nerve": 0.7, "vessel": 0.8}
"""Below these Dice an image's nerve / vessel counts as wrong for the confidence AUROC (the
project's aims)."""
BAD_MEAN_DICE: Final = 0.75
"""Below this mean Dice an image counts as wrong for the image confidence's AUROC."""
_BATCH_STREAM: Final = 0x05A
"""The task's number in the seed of each epoch's shuffle and augmentation."""


# -- model input, augmentation -------------------------------------------------------------------
def to_square(image: U8, label: U8, size: tuple[int, int]) -> tuple[U8, U8]:
    """``image`` letterboxed and resized to ``size`` (H, W) as ``segment_images`` does it (area
    when shrinking, linear when enlarging), and ``label`` the same way by nearest neighbour."""
    h, w = size
    lab, _ = letterbox(label)
    if lab.shape != (h, w):
        lab = np.asarray(cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST), np.uint8)
    return to_model_input(image, size), lab


def usgra_squares(data: UsgraSet, size: tuple[int, int]) -> tuple[U8, U8]:
    """(images (N, H, W), labels (N, H, W)) uint8 of ``data`` at the model input ``size``."""
    pairs = [to_square(i, lab, size) for i, lab in zip(data.images, data.labels, strict=True)]
    h, w = size
    if not pairs:
        return np.zeros((0, h, w), np.uint8), np.zeros((0, h, w), np.uint8)
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def augment_usgra_geometry(image: U8, labels: U8, rng: np.random.Generator) -> tuple[U8, U8]:
    """Flip, affine and field-of-view changes applied to both (labels by nearest neighbour)."""
    h, w = image.shape
    img, lab = image, labels
    if rng.uniform() < 0.5:  # a linear probe held either way round
        img, lab = img[:, ::-1], lab[:, ::-1]
    if rng.uniform() < 0.9:  # affine about the image centre
        scale = float(np.exp(rng.uniform(np.log(0.75), np.log(1.4))))
        aspect = float(rng.uniform(0.9, 1.1))
        angle = float(rng.uniform(-10, 10)) if rng.uniform() < 0.6 else 0.0
        m = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale), np.float64)
        m[0] *= aspect
        m[0, 2] += (1 - aspect) * w / 2  # the aspect change keeps the centre column
        m[:, 2] += rng.uniform(-0.1, 0.1, 2) * (w, h)
        img, lab = warp_pair(img, lab, m)
    img, lab = np.array(img, np.uint8), np.array(lab, np.uint8)
    if rng.uniform() < 0.2:  # shallower depth setting: nothing below a row
        row = int(rng.uniform(0.55, 0.95) * h)
        img[row:] = 0
        lab[row:] = 0
    if rng.uniform() < 0.15:  # narrower field of view
        left = int(rng.uniform(0.0, 0.15) * w)
        right = w - int(rng.uniform(0.0, 0.15) * w)
        img[:, :left] = img[:, right:] = 0
        lab[:, :left] = lab[:, right:] = 0
    return img, lab


def augment_usgra(image: U8, labels: U8, rng: np.random.Generator) -> tuple[U8, U8]:
    """A randomly altered copy of ``image`` and ``labels`` (uint8 (H, W) at the model input):
    :func:`augment_usgra_geometry` on both, then :data:`USGRA_JITTER` on the image."""
    img, lab = augment_usgra_geometry(image, labels, rng)
    return jitter_intensity(img, rng, USGRA_JITTER), lab


# -- the task -----------------------------------------------------------------------------------
def _groups_across(data: UsgraSet, parts: dict[str, tuple[str, ...]]) -> list[list[str]]:
    val = set(parts["val"])
    return [list(g) for g in near_duplicate_groups(data) if len(g) > 1 and (set(g) & val)]


def usgra_fold_split(data: UsgraSet, fold: int) -> dict[str, tuple[str, ...]]:
    """{"train": names, "val": names} with cross-validation fold ``fold`` (0 ..
    ``USGRA_FOLDS`` - 1; :func:`usgra_folds`) held out; fold 0 is the fixed split."""
    folds = usgra_folds(data)
    if not 0 <= fold < len(folds):
        raise ValueError(f"fold {fold}: the usgra-seg folds are 0 .. {len(folds) - 1}")
    held = set(folds[fold])
    return {"train": tuple(n for n in data.names if n not in held), "val": folds[fold]}


def _training_data(options: TrainOptions) -> TrainingData:
    """The training images (all but fold ``options.fold``), ``options.samples`` augmented
    samples per epoch, and the held-out fold (whole, un-augmented) at the model input."""
    r = US_NERVE_VESSEL
    data = load_usgra()
    parts = usgra_fold_split(data, options.fold)
    train = data.subset(parts["train"])
    val = data.subset(parts["val"])
    train_x, train_y = usgra_squares(train, r.input_size)
    val_x, val_y = usgra_squares(val, r.input_size)
    groups = near_duplicate_groups(data)
    doc = {
        "source": "usgra-seg/train (tmkand/usgra-seg, CC-BY 4.0): real regional-anaesthesia "
        "ultrasound, Mindray TE7, L14-6Ns linear probe",
        "images": len(data),
        "masks": "colour PNG: RGB (128,0,0) nerve, (0,128,0) vessel, else background",
        "split": f"near-duplicate groups (thumbnail correlation + 0.5 mask Dice >= {DUP_SCORE}, "
        f"{sum(len(g) > 1 for g in groups)} groups of 2+) drawn in seed {USGRA_SPLIT_SEED} "
        f"order into validation, {VAL_FRACTION:.0%} per image geometry (fold 0); folds 1-"
        f"{USGRA_FOLDS - 1}: the other groups, balanced by geometry",
        "split_seed": USGRA_SPLIT_SEED,
        "fold": options.fold,
        "val_names": list(parts["val"]),
        "val_groups_with_copies": _groups_across(data, parts),
        "train_images": len(train),
        "val_images": len(val),
        "samples_per_epoch": options.samples,
        "train_frames": options.samples,
        "val_frames": len(val),
        "preprocessing": "letterbox to a square, resize to the input (segment_images' path)",
        "augmentation": "orstream.sim.augment_usgra",
    }
    return TrainingData(
        batches(
            train_x,
            train_y,
            r.normalization,
            batch_size=options.batch_size,
            seed=options.seed,
            stream=_BATCH_STREAM,
            augment=augment_usgra,
            samples=options.samples,
        ),
        fixed_batches(val_x, val_y, r.normalization, batch_size=16),
        options.samples,
        len(val),
        doc,
    )


def score_usgra(backend: Backend, data: UsgraSet) -> dict[str, Any]:
    """Dice per class (summary statistics over images; an image counts for a class when the
    truth or the prediction has it), the same over images whose truth has the class, how many
    images miss a class or show one that is not there, Dice per image geometry, the worst
    images, each image's Dice and confidence per class (``per_image``), and the confidence
    report (:func:`usgra_confidence`), of ``backend`` on ``data``
    at each image's own size through ``segment_images``' path."""
    scored = list(segment_images_by_class(backend, data.images, batch_size=8))
    masks = [m for m, _ in scored]
    dice = np.concatenate(
        [
            dice_scores(m, t, backend.model.n_classes)
            for m, t in zip(masks, data.labels, strict=True)
        ]
    )
    names = backend.model.class_names[1:]
    kinds = np.array([image_geometry(im) for im in data.images])
    report: dict[str, Any] = {
        "frames": len(data),
        "dice": {},
        "dice_where_present": {},
        "presence": {},
        "dice_by_geometry": {},
    }
    for c, name in enumerate(names):
        truth = np.array([(t == c + 1).any() for t in data.labels])
        found = np.array([(m == c + 1).any() for m in masks])
        report["dice"][name] = summary_stats(dice[:, c])
        report["dice_where_present"][name] = summary_stats(dice[truth, c])
        report["presence"][name] = {
            "images_with_truth": int(truth.sum()),
            "missed": int((truth & ~found).sum()),
            "false_alarm": int((~truth & found).sum()),
        }
        report["dice_by_geometry"][name] = {
            k: summary_stats(dice[kinds == k, c]) for k in sorted(set(kinds.tolist()))
        }
    confidence = [c for _, c in scored]
    report["confidence"] = usgra_confidence(names, dice, confidence)
    report["per_image"] = [
        {
            "name": data.names[i],
            "dice": {n: _rounded(dice[i, c]) for c, n in enumerate(names)},
            "confidence": {n: round(float(confidence[i][n]), 4) for n in names},
        }
        for i in range(len(data))
    ]
    worst = np.argsort(np.where(np.isnan(dice), 1.0, dice).min(axis=1), kind="stable")[:5]
    report["worst"] = [
        {"name": data.names[i], **{n: _rounded(dice[i, c]) for c, n in enumerate(names)}}
        for i in worst
    ]
    return report


def _rounded(value: float) -> float | None:
    """``value`` to 4 decimals; None for NaN (a class absent from truth and prediction)."""
    return None if np.isnan(value) else round(float(value), 4)


def usgra_confidence(
    names: tuple[str, ...], dice: npt.NDArray[np.float64], confidence: list[dict[str, float]]
) -> dict[str, Any]:
    """How well each class's confidence (``confidence[i][name]``) tells images with that
    class's Dice (``dice`` (N, K-1), classes ``names``) below :data:`BAD_DICE_BY_CLASS` from
    the rest, and the image confidence (``image_confidence``) images with mean Dice (a class
    absent from truth and prediction left out) below :data:`BAD_MEAN_DICE`."""
    out: dict[str, Any] = {"method": CONFIDENCE_METHOD}
    for c, name in enumerate(names):
        out[name] = confidence_report(
            [conf[name] for conf in confidence], dice[:, c], BAD_DICE_BY_CLASS.get(name, 0.8)
        )
    with np.errstate(all="ignore"):
        mean_dice = np.nanmean(np.where(np.isnan(dice).all(axis=1, keepdims=True), 0, dice), 1)
    out["image"] = confidence_report(
        [np.nan_to_num(image_confidence(conf)) for conf in confidence], mean_dice, BAD_MEAN_DICE
    )
    return out


def _evaluate(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """The report of ``spec`` on the held-out fold ``options.fold`` (the first
    ``options.test_samples`` of its images, by name), each image at its own size; the training
    never fitted these images (with ``keep`` "best" they chose the checkpoint).
    ``options.size`` does not apply (real images)."""
    data = load_usgra()
    names = usgra_fold_split(data, options.fold)["val"][: max(1, options.test_samples)]
    val = data.subset(names)
    runner = eval_backend(spec, options)
    return {
        **eval_report_header(spec, runner, options),
        "data": "usgra-seg/train, validation split"
        + (f" (cross-validation fold {options.fold})" if options.fold else ""),
        "split_seed": USGRA_SPLIT_SEED,
        "fold": options.fold,
        "val_names": list(names),
        **score_usgra(runner, val),
        "segment_frames_per_s_batch1": round(
            segment_frames_per_second(runner, val.images, options.speed_frames), 1
        ),
    }


USGRA_TASK: Final = SegTask(US_NERVE_VESSEL, _training_data, _evaluate)
"""The ``us-nerve-vessel`` task: recipe, training data, evaluation."""
