"""CAMUS, real annotated apical echo, and any folder of images with class-index masks.

``camus/{train,val}`` of the real-data folder (``ORSTREAM_DATA``, default ``../shared/data``,
:func:`~._data.data_dir`): ``images/patientNNNN_{2CH,4CH}_{ED,ES}.png`` (224 x 224 uint8 grey,
apex at the top) and ``masks/`` of the same names (uint8: 0 background, 1 LV cavity, 2 LV
myocardium, 3 left atrium). Train: 400 patients, 1,600 images; val: 50 other patients, 200
images. Licence CC BY-NC-SA 4.0 (non-commercial research; cite :data:`CAMUS_CITATION`); the
images never enter the repository, and weights trained on them carry the same terms.

Masks are read as class indices and mapped to the model's classes with a ``labels`` mapping
(:data:`CAMUS_TO_ECHO_LV`: 1 LV cavity -> 1, 2 myocardium -> 2, 3 left atrium -> 4 "la"; an
index the mapping does not name becomes background). CAMUS has no right-heart labels: its
background includes the RV and RA.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ._data import data_dir
from ._dataset_usgra import read_grey_image, read_image_mask_pairs

U8 = npt.NDArray[np.uint8]

CAMUS_SPLITS: Final = ("train", "val")
CAMUS_TO_ECHO_LV: Final = {0: 0, 1: 1, 2: 2, 3: 4}
"""CAMUS mask index -> echo-lv class index (background, lv_cavity, lv_myocardium, la)."""
CAMUS_LICENCE: Final = "CC BY-NC-SA 4.0 (non-commercial scientific research only)"
CAMUS_CITATION: Final = (
    'S. Leclerc, E. Smistad, J. Pedrosa, A. Ostvik, et al., "Deep Learning for Segmentation '
    'using an Open Large-Scale Dataset in 2D Echocardiography", IEEE Transactions on Medical '
    "Imaging, 38(9):2198-2210, 2019, doi:10.1109/TMI.2019.2900516"
)
_NAME: Final = re.compile(r"(patient\d+)_(2CH|4CH)_(ED|ES)")
_VIEWS: Final = {"2CH": "a2c", "4CH": "a4c"}


def parse_camus_name(stem: str) -> tuple[str, str, str]:
    """(patient, view "a2c"/"a4c", phase "ED"/"ES") of a CAMUS file stem such as
    ``patient0001_4CH_ED``; ValueError for any other name."""
    m = _NAME.fullmatch(stem)
    if m is None:
        raise ValueError(f"{stem!r} is not a CAMUS name (patientNNNN_{{2CH,4CH}}_{{ED,ES}})")
    return m.group(1), _VIEWS[m.group(2)], m.group(3)


def parse_label_map(text: str) -> dict[int, int]:
    """``"1:1,2:2,3:4"`` -> {1: 1, 2: 2, 3: 4} (folder index -> model index; 0 -> 0 implied);
    ValueError for anything else."""
    out = {0: 0}
    for part in filter(None, (p.strip() for p in text.split(","))):
        src, sep, dst = part.partition(":")
        if not sep or not src.strip().isdigit() or not dst.strip().isdigit():
            raise ValueError(f"bad label mapping {part!r}: use SRC:DST pairs such as 1:1,3:4")
        out[int(src)] = int(dst)
    return out


def map_labels(mask: npt.ArrayLike, labels: Mapping[int, int] | None) -> U8:
    """uint8 copy of class-index ``mask`` with each index mapped by ``labels`` (None: as is);
    indices ``labels`` does not name become 0."""
    arr = np.asarray(mask)
    if labels is None:
        return np.asarray(arr, np.uint8).copy()
    table = np.zeros(256, np.uint8)
    for src, dst in labels.items():
        if not (0 <= src < 256 and 0 <= dst < 256):
            raise ValueError(f"label mapping {src}:{dst} is outside 0..255")
        table[src] = dst
    out: U8 = table[np.asarray(arr, np.uint8)]
    return out


@dataclass(frozen=True, eq=False)
class MaskFolder:
    """Images (uint8 grey (H, W)) and class-index masks (uint8 (H, W), already mapped to the
    model's classes) by file stem, sorted by name."""

    names: tuple[str, ...]
    images: tuple[U8, ...]
    labels: tuple[U8, ...]

    def __len__(self) -> int:
        return len(self.names)


def read_mask_folder(folder: Path, labels: Mapping[int, int] | None = None) -> MaskFolder:
    """Every ``folder/images/*.png`` and its ``folder/masks/`` namesake (class indices, mapped
    by ``labels``); ValueError (one line) for a missing folder, mask or a size mismatch."""
    images_dir, masks_dir = folder / "images", folder / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise ValueError(f"{folder} needs images/ and masks/ folders of PNGs with the same names")
    return MaskFolder(
        *read_image_mask_pairs(folder, lambda path: map_labels(read_grey_image(path), labels))
    )


@dataclass(frozen=True, eq=False)
class CamusSet:
    """A CAMUS split: ``images`` uint8 (N, H, W), ``labels`` uint8 (N, H, W) in echo-lv's
    classes, and per image its ``names``, ``patients``, ``views`` ("a2c"/"a4c") and
    ``phases`` ("ED"/"ES")."""

    names: tuple[str, ...]
    patients: tuple[str, ...]
    views: tuple[str, ...]
    phases: tuple[str, ...]
    images: U8
    labels: U8

    def __len__(self) -> int:
        return len(self.names)


def find_camus(split: str, root: Path | None = None) -> Path:
    """The ``camus/SPLIT`` folder under ``root`` (default: the real-data folder); ValueError
    if the split is unknown or the folder is absent."""
    if split not in CAMUS_SPLITS:
        raise ValueError(f"unknown CAMUS split {split!r}; choose one of {', '.join(CAMUS_SPLITS)}")
    base = root if root is not None else data_dir()
    path = None if base is None else base / "camus" / split
    if path is None or not (path / "images").is_dir() or not (path / "masks").is_dir():
        where = "ORSTREAM_DATA or ../shared/data" if base is None else str(base)
        raise ValueError(
            f"the CAMUS data is missing: expected camus/{split}/images and /masks under {where} "
            "(set ORSTREAM_DATA to the real-data folder)"
        )
    return path


@functools.lru_cache(maxsize=4)
def _load(folder: Path) -> CamusSet:
    data = read_mask_folder(folder, CAMUS_TO_ECHO_LV)
    parsed = [parse_camus_name(n) for n in data.names]
    if len({im.shape for im in data.images}) != 1:
        raise ValueError(f"CAMUS images in {folder} are not all one size")
    return CamusSet(
        data.names,
        tuple(p[0] for p in parsed),
        tuple(p[1] for p in parsed),
        tuple(p[2] for p in parsed),
        np.stack(data.images),
        np.stack(data.labels),
    )


def load_camus(split: str, root: Path | None = None) -> CamusSet:
    """The CAMUS ``split`` ("train" or "val") under ``root`` (default: the real-data folder),
    masks in echo-lv's classes; cached (do not modify the arrays). ValueError if missing."""
    return _load(find_camus(split, root).resolve())
