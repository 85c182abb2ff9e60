"""The usgra-seg real-image dataset: reading its images and colour masks, and its fixed split.

``usgra-seg/train`` of the real-data folder (``ORSTREAM_DATA``, default ``../shared/data``,
:func:`~._data.data_dir`): 204 B-mode images from ultrasound-guided regional anaesthesia
(Mindray TE7, L14-6Ns linear probe; source tmkand/usgra-seg, CC-BY 4.0). Images are PNGs of
three kinds (512 x 512 grey, 512 x 534 and 632 x 761 RGB with a slight tint); they are read as
the ``orstream segment`` command reads them (OpenCV, BGR to grey). Masks are colour PNGs: RGB
(128, 0, 0) is nerve (class 1), (0, 128, 0) blood vessel (class 2), anything else background.

Split: the set holds the same frame more than once (a 512 x 512 grey copy of a 512 x 534 one,
one image annotated twice) and neighbouring frames of one sweep. :func:`near_duplicate_groups`
links two images when their content thumbnails correlate and their masks overlap
(``DUP_SCORE``); whole groups go to one side. :func:`usgra_split` then puts a seeded
(``USGRA_SPLIT_SEED``), deterministic ~18 % of the images, in whole groups and in proportion to
each image geometry, into the validation split; the rest train. The source's own test split is
not used anywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from ._data import data_dir

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

DATA_PARTS: Final = ("usgra-seg", "train")
"""Where the training folder lies under the real-data folder."""
CLASS_COLOURS: Final = {1: (128, 0, 0), 2: (0, 128, 0)}
"""Mask colour (RGB) of each foreground class: 1 nerve, 2 blood vessel."""
USGRA_SPLIT_SEED: Final = 2025
"""Seed of the validation split (fixed: the same images validate every training run)."""
VAL_FRACTION: Final = 0.18
USGRA_FOLDS: Final = 5
"""Cross-validation folds of the training folder; fold 0 is the fixed validation split."""
DUP_SCORE: Final = 0.95
"""Two images are near-duplicates when thumbnail correlation + 0.5 x mask Dice >= this."""
_THUMB: Final = 40


# -- reading ------------------------------------------------------------------------------------
def find_usgra(root: Path | None = None) -> Path:
    """The ``usgra-seg/train`` folder (``root`` or the real-data folder); ValueError if absent."""
    base = root if root is not None else data_dir()
    path = None if base is None else base.joinpath(*DATA_PARTS)
    if path is None or not (path / "images").is_dir() or not (path / "masks").is_dir():
        where = "ORSTREAM_DATA or ../shared/data" if base is None else str(base)
        raise ValueError(
            f"the usgra-seg training data is missing: expected {'/'.join(DATA_PARTS)}/images "
            f"and /masks under {where} (set ORSTREAM_DATA to the real-data folder)"
        )
    return path


def read_grey_image(path: Path) -> U8:
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


def decode_usgra_mask(rgb: npt.ArrayLike) -> U8:
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


def read_usgra_mask(path: Path) -> U8:
    """Class indices of the colour mask PNG at ``path`` (palette or RGB;
    :func:`decode_usgra_mask`)."""
    from PIL import Image

    with Image.open(path) as mask:
        return decode_usgra_mask(np.asarray(mask.convert("RGB")))


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


def read_image_mask_pairs(
    folder: Path, read_mask: Callable[[Path], U8]
) -> tuple[tuple[str, ...], tuple[U8, ...], tuple[U8, ...]]:
    """Names, grey images and masks (``read_mask`` of the namesake) of every
    ``folder/images/*.png`` with its ``folder/masks/`` namesake; ValueError (one line) for no
    images, a missing mask or a size mismatch."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    files = sorted(images_dir.glob("*.png"))
    if not files:
        raise ValueError(f"no images (*.png) in {images_dir}")
    names, images, masks = [], [], []
    for path in files:
        mask_path = masks_dir / path.name
        if not mask_path.exists():
            raise ValueError(f"image {path.name} has no mask in {masks_dir}")
        image, mask = read_grey_image(path), read_mask(mask_path)
        if image.shape != mask.shape:
            raise ValueError(f"{path.name}: image {image.shape} and mask {mask.shape} differ")
        names.append(path.stem)
        images.append(image)
        masks.append(mask)
    return tuple(names), tuple(images), tuple(masks)


@functools.lru_cache(maxsize=2)
def _load(folder: Path) -> UsgraSet:
    return UsgraSet(*read_image_mask_pairs(folder, read_usgra_mask))


def load_usgra(root: Path | None = None) -> UsgraSet:
    """Every image and mask of ``usgra-seg/train`` under ``root`` (default: the real-data
    folder), sorted by name; cached (do not modify the arrays). ValueError if missing."""
    return _load(find_usgra(root).resolve())


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


def image_geometry(image: U8) -> str:
    return f"{image.shape[0]}x{image.shape[1]}"


def usgra_split(data: UsgraSet) -> dict[str, tuple[str, ...]]:
    """{"train": names, "val": names}: near-duplicate groups (:func:`near_duplicate_groups`)
    drawn in a ``USGRA_SPLIT_SEED`` order into validation, while no image geometry (512x512,
    512x534, 632x761) exceeds ``VAL_FRACTION`` of its count, until ``VAL_FRACTION`` of all
    images. Deterministic; the two sides never share a group."""
    groups = near_duplicate_groups(data)
    kind = {n: image_geometry(im) for n, im in zip(data.names, data.images, strict=True)}
    counts: dict[str, int] = {}
    for k in kind.values():
        counts[k] = counts.get(k, 0) + 1
    target = {k: round(VAL_FRACTION * c) for k, c in counts.items()}
    total = round(VAL_FRACTION * len(data))
    rng = np.random.default_rng(USGRA_SPLIT_SEED)
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


def usgra_folds(data: UsgraSet, folds: int = USGRA_FOLDS) -> tuple[tuple[str, ...], ...]:
    """``folds`` disjoint sets of image names (each sorted) that cover ``data``, for
    cross-validation: fold 0 is :func:`usgra_split`'s validation split; the other images go,
    a near-duplicate group at a time in a ``USGRA_SPLIT_SEED`` order, to the fold among 1 ..
    folds - 1 with the fewest images of the group's first image geometry (ties: fewest images,
    then lowest index). Deterministic; no group is split between folds."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds; got {folds}")
    fixed = usgra_split(data)
    val = set(fixed["val"])
    groups = [g for g in near_duplicate_groups(data) if not set(g) & val]
    kind = {n: image_geometry(im) for n, im in zip(data.names, data.images, strict=True)}
    parts: list[list[str]] = [[] for _ in range(folds - 1)]
    rng = np.random.default_rng(USGRA_SPLIT_SEED + 1)
    for g in rng.permutation(len(groups)):
        group = groups[int(g)]
        k = kind[group[0]]
        best = min(
            range(len(parts)),
            key=lambda i: (sum(kind[n] == k for n in parts[i]), len(parts[i]), i),
        )
        parts[best].extend(group)
    return (fixed["val"], *(tuple(sorted(p)) for p in parts))
