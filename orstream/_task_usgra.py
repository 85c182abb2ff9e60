"""Real regional-anaesthesia ultrasound: the task of model ``us-nerve-vessel`` (nerve, vessel).

Data: ``usgra-seg/train`` of the real-data folder (``ORSTREAM_DATA``, default
``../shared/data``): 204 B-mode images from ultrasound-guided regional anaesthesia (Mindray TE7,
L14-6Ns linear probe; source tmkand/usgra-seg, CC-BY 4.0). Images are PNGs of three kinds
(512 x 512 grey, 512 x 534 and 632 x 761 RGB with a slight tint); they are read as the
``orstream segment`` command reads them (OpenCV, BGR to grey). Masks are colour PNGs: RGB
(128, 0, 0) is nerve (class 1), (0, 128, 0) blood vessel (class 2), anything else background.

Split: the set holds the same frame more than once (a 512 x 512 grey copy of a 512 x 534 one,
one image annotated twice) and neighbouring frames of one sweep. :func:`near_duplicate_groups`
links two images when their content thumbnails correlate and their masks overlap
(``DUP_SCORE``); whole groups go to one side. :func:`split_names` then puts a seeded
(``SPLIT_SEED``), deterministic ~18 % of the images, in whole groups and in proportion to each
image geometry, into the validation split; the rest train. The source's own test split is not
used anywhere.

Training images are letterboxed to a square (black padding) and resized to the model input
exactly as :func:`~orstream.kernels._backends_segment.segment_images` does at inference, then
augmented afresh per sample (:func:`augment`): left-right flip, affine (scale, aspect, rotation,
shift), shorter depth or narrower field of view, resolution loss, blur, depth-gain ramp,
speckle-like and additive noise, gain, gamma and JPEG artefacts. ``--samples`` is the number
of augmented samples per epoch (the training images are cycled in a fresh order).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ._training import (
    SegRecipe,
    TrainingData,
    TrainOptions,
    open_backend,
    report_header,
    segment_frames_per_second,
    summary,
)
from .cli._errors import UsageError
from .kernels._backends import Backend
from .kernels._backends_segment import dice_scores, letterbox, segment_images, to_model_input
from .kernels._models import ModelSpec, normalize
from .sim._data import data_dir

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

DATA_PARTS: Final = ("usgra-seg", "train")
"""Where the training folder lies under the real-data folder."""
CLASS_COLOURS: Final = {1: (128, 0, 0), 2: (0, 128, 0)}
"""Mask colour (RGB) of each foreground class: 1 nerve, 2 blood vessel."""
SPLIT_SEED: Final = 2025
"""Seed of the validation split (fixed: the same images validate every training run)."""
VAL_FRACTION: Final = 0.18
DUP_SCORE: Final = 0.95
"""Two images are near-duplicates when thumbnail correlation + 0.5 x mask Dice >= this."""
_THUMB: Final = 40

US_NERVE_VESSEL: Final = SegRecipe(
    name="us-nerve-vessel",
    input_size=(256, 256),
    class_names=("background", "nerve", "vessel"),
    architecture={
        "network": "UNet",
        "args": {
            "channels": [16, 32, 64, 128, 256],
            "strides": [2, 2, 2, 2],
            "num_res_units": 1,
            "norm": "instance",
        },
    },
    normalization={"kind": "p99", "floor": 8.0, "clip": 2.0},
    description="peripheral nerve and blood vessel in real linear-array B-mode ultrasound for "
    "regional anaesthesia (grey), trained on the usgra-seg images (CC-BY 4.0)",
)
RECIPE: Final = US_NERVE_VESSEL


# -- reading ------------------------------------------------------------------------------------
def find_data(root: Path | None = None) -> Path:
    """The ``usgra-seg/train`` folder (``root`` or the real-data folder); UsageError if absent."""
    base = root if root is not None else data_dir()
    path = None if base is None else base.joinpath(*DATA_PARTS)
    if path is None or not (path / "images").is_dir() or not (path / "masks").is_dir():
        where = "ORSTREAM_DATA or ../shared/data" if base is None else str(base)
        raise UsageError(
            f"the usgra-seg training data is missing: expected {'/'.join(DATA_PARTS)}/images "
            f"and /masks under {where} (set ORSTREAM_DATA to the real-data folder)"
        )
    return path


def read_image(path: Path) -> U8:
    """uint8 (H, W) grey of the image file at ``path``, read as ``orstream segment`` reads it
    (OpenCV, colour to grey by BT.601 luma)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot read {path} as an image")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype != np.uint8:
        raise ValueError(f"{path} is not an 8-bit image ({image.dtype})")
    return np.ascontiguousarray(image)


def decode_mask(rgb: npt.ArrayLike) -> U8:
    """uint8 (H, W) class indices of an RGB (H, W, 3) colour mask: (128, 0, 0) nerve 1,
    (0, 128, 0) vessel 2, every other colour background 0."""
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ValueError(f"expected an RGB mask (H, W, 3); got shape {arr.shape}")
    r, g, b = arr[:, :, 0], arr[:, :, 1], arr[:, :, 2]
    out = np.zeros(arr.shape[:2], np.uint8)
    for index, (cr, cg, cb) in CLASS_COLOURS.items():
        out[(r == cr) & (g == cg) & (b == cb)] = index
    return out


def read_mask(path: Path) -> U8:
    """Class indices of the colour mask PNG at ``path`` (palette or RGB; :func:`decode_mask`)."""
    from PIL import Image

    with Image.open(path) as mask:
        return decode_mask(np.asarray(mask.convert("RGB")))


@dataclass(frozen=True, eq=False)
class UsgraSet:
    """Images and masks by file stem: ``images`` uint8 grey (H, W) and ``labels`` uint8 class
    indices (H, W), each at its file's own size."""

    names: tuple[str, ...]
    images: tuple[U8, ...]
    labels: tuple[U8, ...]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, names: Sequence[str]) -> UsgraSet:
        """The images named ``names``, in that order (KeyError for an unknown one)."""
        index = {n: i for i, n in enumerate(self.names)}
        picks = [index[n] for n in names]
        return UsgraSet(
            tuple(self.names[i] for i in picks),
            tuple(self.images[i] for i in picks),
            tuple(self.labels[i] for i in picks),
        )


@functools.lru_cache(maxsize=2)
def _load(folder: Path) -> UsgraSet:
    images_dir, masks_dir = folder / "images", folder / "masks"
    files = sorted(images_dir.glob("*.png"))
    if not files:
        raise UsageError(f"no images (*.png) in {images_dir}")
    names, images, labels = [], [], []
    for path in files:
        mask_path = masks_dir / path.name
        if not mask_path.exists():
            raise UsageError(f"image {path.name} has no mask in {masks_dir}")
        image, label = read_image(path), read_mask(mask_path)
        if image.shape != label.shape:
            raise ValueError(f"{path.name}: image {image.shape} and mask {label.shape} differ")
        names.append(path.stem)
        images.append(image)
        labels.append(label)
    return UsgraSet(tuple(names), tuple(images), tuple(labels))


def load_usgra(root: Path | None = None) -> UsgraSet:
    """Every image and mask of ``usgra-seg/train`` under ``root`` (default: the real-data
    folder), sorted by name; cached (do not modify the arrays). UsageError if missing."""
    return _load(find_data(root).resolve())


# -- the split ----------------------------------------------------------------------------------
def _thumbnails(data: UsgraSet) -> tuple[F32, F32]:
    """(N, T*T) unit-norm z-scored grey thumbnails of each image's content box and (N, 2*T*T)
    class-area thumbnails of its mask over the same box."""
    grey, masks = [], []
    for image, label in zip(data.images, data.labels, strict=True):
        lit = image > 8
        rows = np.flatnonzero(lit.mean(axis=1) > 0.2)
        cols = np.flatnonzero(lit.mean(axis=0) > 0.2)
        if len(rows) < 2 or len(cols) < 2:
            rows, cols = np.arange(image.shape[0]), np.arange(image.shape[1])
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        size = (_THUMB, _THUMB)
        t = cv2.resize(image[box], size, interpolation=cv2.INTER_AREA).astype(np.float32)
        t = (t - t.mean()) / (t.std() + 1e-6)
        grey.append(t.ravel() / np.sqrt(t.size))
        m = label[box]
        masks.append(
            np.concatenate(
                [
                    np.asarray(
                        cv2.resize((m == c).astype(np.float32), size, interpolation=cv2.INTER_AREA)
                    ).ravel()
                    for c in CLASS_COLOURS
                ]
            )
        )
    return np.asarray(grey, np.float32), np.asarray(masks, np.float32)


def near_duplicate_groups(data: UsgraSet) -> list[tuple[str, ...]]:
    """Groups of image names (sorted, groups in order of their first name) that are copies or
    near frames of one scan: linked (transitively) when the correlation of their grey content
    thumbnails plus half the Dice of their mask thumbnails reaches ``DUP_SCORE``."""
    grey, masks = _thumbnails(data)
    corr = grey @ grey.T
    inter = masks @ masks.T
    area = masks.sum(axis=1)
    dice = 2.0 * inter / np.maximum(area[:, None] + area[None, :], 1e-6)
    linked = corr + 0.5 * dice >= DUP_SCORE
    parent = list(range(len(data)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(linked, 1)), strict=True):
        parent[root(int(i))] = root(int(j))
    groups: dict[int, list[str]] = {}
    for i, name in enumerate(data.names):
        groups.setdefault(root(i), []).append(name)
    return sorted((tuple(sorted(g)) for g in groups.values()), key=lambda g: g[0])


def _geometry(image: U8) -> str:
    return f"{image.shape[0]}x{image.shape[1]}"


def split_names(data: UsgraSet) -> dict[str, tuple[str, ...]]:
    """{"train": names, "val": names}: near-duplicate groups (:func:`near_duplicate_groups`)
    drawn in a ``SPLIT_SEED`` order into validation, while no image geometry (512x512,
    512x534, 632x761) exceeds ``VAL_FRACTION`` of its count, until ``VAL_FRACTION`` of all
    images. Deterministic; the two sides never share a group."""
    groups = near_duplicate_groups(data)
    kind = {n: _geometry(im) for n, im in zip(data.names, data.images, strict=True)}
    counts: dict[str, int] = {}
    for k in kind.values():
        counts[k] = counts.get(k, 0) + 1
    target = {k: round(VAL_FRACTION * c) for k, c in counts.items()}
    total = round(VAL_FRACTION * len(data))
    rng = np.random.default_rng(SPLIT_SEED)
    taken: dict[str, int] = dict.fromkeys(counts, 0)
    val: list[str] = []
    for g in rng.permutation(len(groups)):
        if len(val) >= total:
            break
        group = groups[int(g)]
        need: dict[str, int] = {}
        for name in group:
            need[kind[name]] = need.get(kind[name], 0) + 1
        if all(taken[k] + n <= target[k] for k, n in need.items()):
            val.extend(group)
            for k, n in need.items():
                taken[k] += n
    chosen = set(val)
    return {
        "train": tuple(n for n in data.names if n not in chosen),
        "val": tuple(sorted(val)),
    }


# -- model input, augmentation, batches -----------------------------------------------------------
def to_square(image: U8, label: U8, size: tuple[int, int]) -> tuple[U8, U8]:
    """``image`` letterboxed and resized to ``size`` (H, W) as ``segment_images`` does it (area
    when shrinking, linear when enlarging), and ``label`` the same way by nearest neighbour."""
    h, w = size
    lab, _ = letterbox(label)
    if lab.shape != (h, w):
        lab = np.asarray(cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST), np.uint8)
    return to_model_input(image, size), lab


def squares(data: UsgraSet, size: tuple[int, int]) -> tuple[U8, U8]:
    """(images (N, H, W), labels (N, H, W)) uint8 of ``data`` at the model input ``size``."""
    pairs = [to_square(i, lab, size) for i, lab in zip(data.images, data.labels, strict=True)]
    h, w = size
    if not pairs:
        return np.zeros((0, h, w), np.uint8), np.zeros((0, h, w), np.uint8)
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def augment_geometry(image: U8, labels: U8, rng: np.random.Generator) -> tuple[U8, U8]:
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
        img = np.asarray(
            cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), flags=cv2.INTER_LINEAR)
        )
        lab = np.asarray(
            cv2.warpAffine(np.ascontiguousarray(lab), m, (w, h), flags=cv2.INTER_NEAREST)
        )
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


def augment_intensity(image: U8, rng: np.random.Generator) -> U8:
    """Scanner and display changes of the image alone: resolution loss, blur, depth-gain
    ramp, speckle-like and additive noise, gain, gamma, JPEG artefacts."""
    h, w = image.shape
    x = image.astype(np.float32) / 255.0
    if rng.uniform() < 0.25:  # resolution loss
        f = float(rng.uniform(0.5, 0.85))
        small = cv2.resize(
            x, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA
        )
        x = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    if rng.uniform() < 0.25:
        x = np.asarray(cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.4, 1.2))), np.float32)
    if rng.uniform() < 0.5:  # depth-gain (TGC) ramp
        slope = float(rng.uniform(-0.6, 0.6))
        x = x * (1.0 + slope * np.linspace(-0.5, 0.5, h, dtype=np.float32))[:, None]
    if rng.uniform() < 0.3:
        sigma = float(rng.uniform(0.05, 0.25))
        x = x * (1.0 + rng.normal(0.0, sigma, x.shape).astype(np.float32))
    if rng.uniform() < 0.3:
        x = x + rng.normal(0.0, float(rng.uniform(0.005, 0.03)), x.shape).astype(np.float32)
    gain = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    gamma = float(np.exp(rng.uniform(np.log(0.7), np.log(1.5))))
    x = np.clip(x * gain, 0.0, 1.0) ** gamma
    img: U8 = (x * 255.0 + 0.5).astype(np.uint8)
    if rng.uniform() < 0.2:
        quality = int(rng.integers(40, 90))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            img = np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)
    return img


def augment(image: U8, labels: U8, rng: np.random.Generator) -> tuple[U8, U8]:
    """A randomly altered copy of ``image`` and ``labels`` (uint8 (H, W) at the model input):
    :func:`augment_geometry` on both, then :func:`augment_intensity` on the image."""
    img, lab = augment_geometry(image, labels, rng)
    return augment_intensity(img, rng), lab


Batches = Callable[[int], Iterator[tuple[F32, U8]]]


def batches(
    images: U8,
    labels: U8,
    normalization: dict[str, Any],
    *,
    batch_size: int,
    samples: int,
    seed: int,
    augmented: bool = True,
) -> Batches:
    """``epoch -> iterator of (x float32 (B, 1, H, W), y uint8 (B, H, W))``: ``samples``
    augmented samples per epoch (``samples // batch_size`` full batches), drawn by cycling
    through ``images`` in a fresh order per pass, seeded by ``seed`` and the epoch."""
    n = len(images)
    if n == 0:
        raise ValueError("no training images")

    def epoch_batches(epoch: int) -> Iterator[tuple[F32, U8]]:
        rng = np.random.default_rng([seed, epoch, 0x05A])
        passes = -(-samples // n)
        order = np.concatenate([rng.permutation(n) for _ in range(passes)])[:samples]
        for start in range(0, samples - batch_size + 1, batch_size):
            pairs = [
                augment(images[i], labels[i], rng) if augmented else (images[i], labels[i])
                for i in order[start : start + batch_size]
            ]
            x = normalize(np.stack([p[0] for p in pairs]), normalization)
            yield x, np.stack([p[1] for p in pairs])

    return epoch_batches


def fixed_batches(
    images: U8, labels: U8, normalization: dict[str, Any], batch_size: int = 16
) -> list[tuple[F32, U8]]:
    """Un-augmented batches in order (validation)."""
    return [
        (normalize(images[i : i + batch_size], normalization), labels[i : i + batch_size])
        for i in range(0, len(images), batch_size)
    ]


# -- the task -----------------------------------------------------------------------------------
def _groups_across(data: UsgraSet, parts: dict[str, tuple[str, ...]]) -> list[list[str]]:
    val = set(parts["val"])
    return [list(g) for g in near_duplicate_groups(data) if len(g) > 1 and (set(g) & val)]


def training_data(options: TrainOptions) -> TrainingData:
    """The training split's images, ``options.samples`` augmented samples per epoch, and the
    validation split (whole, un-augmented) at the model input."""
    r = RECIPE
    data = load_usgra()
    parts = split_names(data)
    train = data.subset(parts["train"])
    val = data.subset(parts["val"])
    train_x, train_y = squares(train, r.input_size)
    val_x, val_y = squares(val, r.input_size)
    groups = near_duplicate_groups(data)
    doc = {
        "source": "usgra-seg/train (tmkand/usgra-seg, CC-BY 4.0): real regional-anaesthesia "
        "ultrasound, Mindray TE7, L14-6Ns linear probe",
        "images": len(data),
        "masks": "colour PNG: RGB (128,0,0) nerve, (0,128,0) vessel, else background",
        "split": f"near-duplicate groups (thumbnail correlation + 0.5 mask Dice >= {DUP_SCORE}, "
        f"{sum(len(g) > 1 for g in groups)} groups of 2+) drawn in seed {SPLIT_SEED} order "
        f"into validation, {VAL_FRACTION:.0%} per image geometry",
        "split_seed": SPLIT_SEED,
        "val_names": list(parts["val"]),
        "val_groups_with_copies": _groups_across(data, parts),
        "train_images": len(train),
        "val_images": len(val),
        "samples_per_epoch": options.samples,
        "train_frames": options.samples,
        "val_frames": len(val),
        "preprocessing": "letterbox to a square, resize to the input (segment_images' path)",
        "augmentation": "orstream._task_usgra.augment",
    }
    return TrainingData(
        batches(
            train_x,
            train_y,
            r.normalization,
            batch_size=options.batch_size,
            samples=options.samples,
            seed=options.seed,
        ),
        fixed_batches(val_x, val_y, r.normalization),
        options.samples,
        len(val),
        doc,
    )


def score(backend: Backend, data: UsgraSet) -> dict[str, Any]:
    """Dice per class (summary statistics over images; an image counts for a class when the
    truth or the prediction has it), the same over images whose truth has the class, how many
    images miss a class or show one that is not there, Dice per image geometry and the worst
    images, of ``backend`` on ``data`` at each image's own size through ``segment_images``."""
    masks = list(segment_images(backend, data.images, batch_size=8))
    dice = np.concatenate(
        [
            dice_scores(m, t, backend.model.n_classes)
            for m, t in zip(masks, data.labels, strict=True)
        ]
    )
    names = backend.model.class_names[1:]
    kinds = np.array([_geometry(im) for im in data.images])
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
        report["dice"][name] = summary(dice[:, c])
        report["dice_where_present"][name] = summary(dice[truth, c])
        report["presence"][name] = {
            "images_with_truth": int(truth.sum()),
            "missed": int((truth & ~found).sum()),
            "false_alarm": int((~truth & found).sum()),
        }
        report["dice_by_geometry"][name] = {
            k: summary(dice[kinds == k, c]) for k in sorted(set(kinds.tolist()))
        }
    worst = np.argsort(np.where(np.isnan(dice), 1.0, dice).min(axis=1), kind="stable")[:5]
    report["worst"] = [
        {
            "name": data.names[i],
            **{
                n: None if np.isnan(dice[i, c]) else round(float(dice[i, c]), 4)
                for c, n in enumerate(names)
            },
        }
        for i in worst
    ]
    return report


def evaluate(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """The report of ``spec`` on the validation split (the first ``options.test_samples`` of
    its images, by name), each image at its own size; the training never fitted these images
    (they chose the checkpoint). ``options.size`` does not apply (real images)."""
    data = load_usgra()
    names = split_names(data)["val"][: max(1, options.test_samples)]
    val = data.subset(names)
    runner = open_backend(spec, options)
    return {
        **report_header(spec, runner, options),
        "data": "usgra-seg/train, validation split",
        "split_seed": SPLIT_SEED,
        "val_names": list(names),
        **score(runner, val),
        "segment_frames_per_s_batch1": round(
            segment_frames_per_second(runner, val.images, options.speed_frames), 1
        ),
    }


def print_report(report: dict[str, Any]) -> None:
    """The evaluation report in a few lines."""
    print(
        f"{report['model']} on {report['frames']} real validation images of usgra-seg "
        f"(split seed {report['split_seed']}, each at its own size), backend {report['backend']}:"
    )
    for name, s in report["dice"].items():
        if s.get("n"):
            by_geometry = ", ".join(
                f"{k} {d['mean']:.3f}"
                for k, d in report["dice_by_geometry"][name].items()
                if d.get("n")
            )
            print(
                f"  {name:8s} Dice mean {s['mean']:.3f} median {s['median']:.3f} "
                f"p5 {s['p5']:.3f} min {s['min']:.3f} (n {s['n']}; {by_geometry})"
            )
            present, seen = report["dice_where_present"][name], report["presence"][name]
            if present.get("n"):
                print(
                    f"  {'':8s} where the truth has it: mean {present['mean']:.3f} (n "
                    f"{present['n']}); missed in {seen['missed']}, drawn where absent in "
                    f"{seen['false_alarm']}"
                )
    worst = "; ".join(
        w["name"] + " " + " ".join(f"{k} {v:.2f}" for k, v in w.items() if isinstance(v, float))
        for w in report["worst"][:3]
    )
    print(f"  worst images (lowest class Dice): {worst}")
    print(
        f"  {report['frames_per_s_batch1']:.0f} frames/s at batch 1 (model only), "
        f"{report['segment_frames_per_s_batch1']:.0f} frames/s image to mask, "
        f"{report['threads']} thread(s); model {report['model_bytes'] / 1e6:.2f} MB"
    )
