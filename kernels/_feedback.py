"""Clinician feedback folders (format v1): read, validate, and turn into training pairs.

The OR display writes one sub-folder per feedback item, ``DIR/<stream_id>-<seq:08d>-<created_ns>/``,
with ``image.png`` (the frame as the model received it: uint8 grey (H, W) or RGB (H, W, 3)),
``mask.png`` (uint8 class indices at the image's size; ``redraw``: the corrected mask,
``accept``: the model's own; absent for ``reject`` and ``move_tip``) and ``feedback.json``
(``format`` "orstream-feedback", ``version`` 1, ``verdict``, ``model``, ``modality``,
``stream_id``, ``seq``, ``t_capture_ns``, ``spacing_mm``, ``label``, ``polygon_px``,
``tip_px``, ``created_ns``). :func:`read_feedback` reads a folder tolerantly and strictly at
once: an item that breaks the format is skipped, counted and named in one log line, never
fatal; an item for another model is skipped the same way. :func:`feedback_pairs` gives the
``redraw`` and ``accept`` items at a model's input size, as ``segment_images`` would see them.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ._backends_segment import letterbox, to_grey, to_model_input

FEEDBACK_FORMAT: Final = "orstream-feedback"
FEEDBACK_VERSION: Final = 1
VERDICTS: Final = ("accept", "reject", "redraw", "move_tip")
TRAINABLE_VERDICTS: Final = ("redraw", "accept")
"""Verdicts whose item carries an image and a mask to learn from."""
_MAX_LOGGED_NAMES: Final = 20

_log = logging.getLogger("orstream.kernels")

U8 = npt.NDArray[np.uint8]


class FeedbackError(ValueError):
    """Why one feedback item breaks the format (the reader skips it)."""


@dataclass(frozen=True)
class FeedbackItem:
    """One valid item: its folder ``name``, ``verdict``, ``image`` uint8 (H, W) or (H, W, 3)
    RGB, ``mask`` uint8 (H, W) class indices (None for ``reject`` / ``move_tip``) and the
    ``meta`` of its feedback.json."""

    name: str
    verdict: str
    image: U8
    mask: U8 | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class FeedbackSet:
    """What a feedback folder held: the valid ``items`` (in name order), the ``skipped`` ones
    as (folder name, reason) pairs, and ``verdicts`` (count per verdict of the valid items)."""

    folder: Path
    items: tuple[FeedbackItem, ...]
    skipped: tuple[tuple[str, str], ...]
    verdicts: dict[str, int] = field(default_factory=dict)

    @property
    def trainable(self) -> tuple[FeedbackItem, ...]:
        """The ``redraw`` and ``accept`` items (image + mask)."""
        return tuple(it for it in self.items if it.verdict in TRAINABLE_VERDICTS)

    def summary(self) -> dict[str, Any]:
        """Counts for a model card: items, per verdict, trainable, skipped (with names)."""
        return {
            "items": len(self.items),
            "verdicts": {v: self.verdicts.get(v, 0) for v in VERDICTS},
            "trainable": len(self.trainable),
            "skipped": len(self.skipped),
            "skipped_items": [f"{name}: {why}" for name, why in self.skipped],
        }


def _check_meta(doc: Any, n_classes: int | None) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise FeedbackError("feedback.json is not a JSON object")
    if doc.get("format") != FEEDBACK_FORMAT or doc.get("version") != FEEDBACK_VERSION:
        raise FeedbackError(
            f"format {doc.get('format')!r} version {doc.get('version')!r}, "
            f"expected {FEEDBACK_FORMAT!r} version {FEEDBACK_VERSION}"
        )
    if doc.get("verdict") not in VERDICTS:
        raise FeedbackError(f"verdict {doc.get('verdict')!r} is not one of {', '.join(VERDICTS)}")
    kinds: dict[str, tuple[type, ...]] = {
        "stream_id": (str,),
        "seq": (int,),
        "created_ns": (int,),
        "t_capture_ns": (int, type(None)),
        "model": (str, type(None)),
        "modality": (str, type(None)),
        "label": (int, type(None)),
        "polygon_px": (list, type(None)),
        "tip_px": (list, type(None)),
        "spacing_mm": (list, type(None)),
    }
    required = ("stream_id", "seq", "created_ns", "model")
    for key, types in kinds.items():
        if key not in doc:
            if key in required:
                raise FeedbackError(f"feedback.json lacks {key!r}")
            continue
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise FeedbackError(f"{key} is {type(value).__name__}, not {types[0].__name__}")
    label = doc.get("label")
    if label is not None and (label < 0 or (n_classes is not None and label >= n_classes)):
        raise FeedbackError(f"label {label} is outside the model's {n_classes} classes")
    if doc["verdict"] == "redraw" and label is None:
        raise FeedbackError("a redraw names no label")
    return doc


def _read_png(path: Path) -> U8:
    if not path.is_file():
        raise FeedbackError(f"{path.name} is missing")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FeedbackError(f"{path.name} is not a readable PNG")
    if raw.dtype != np.uint8:
        raise FeedbackError(f"{path.name} is {raw.dtype}, not uint8")
    if raw.ndim == 3 and raw.shape[2] == 3:
        raw = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    elif raw.ndim != 2:
        raise FeedbackError(f"{path.name} has shape {raw.shape}: not grey (H, W) or RGB (H, W, 3)")
    return np.ascontiguousarray(raw)


def read_item(folder: Path, n_classes: int | None = None) -> FeedbackItem:
    """The item in ``folder``; FeedbackError (one line) when it breaks the format or, given
    ``n_classes``, when its mask holds a class index >= ``n_classes``."""
    try:
        doc = json.loads((folder / "feedback.json").read_text())
    except FileNotFoundError:
        raise FeedbackError("feedback.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FeedbackError(f"feedback.json is not valid JSON ({exc})") from None
    meta = _check_meta(doc, n_classes)
    image = _read_png(folder / "image.png")
    mask = None
    if meta["verdict"] in TRAINABLE_VERDICTS:
        mask = _read_png(folder / "mask.png")
        if mask.ndim != 2 or mask.shape != image.shape[:2]:
            raise FeedbackError(f"mask.png is {mask.shape}, the image {image.shape[:2]}")
        top = int(mask.max())
        if n_classes is not None and top >= n_classes:
            raise FeedbackError(f"mask.png holds class {top}; the model has {n_classes}")
    return FeedbackItem(folder.name, str(meta["verdict"]), image, mask, meta)


def read_feedback(
    folder: Path, *, model: str | None = None, n_classes: int | None = None
) -> FeedbackSet:
    """Every item of the feedback folder ``folder`` (sub-folders in name order; hidden ones,
    which writers may be filling, are not looked at). Malformed items, and with ``model``
    items whose ``model`` names another one, are skipped and counted, and one warning line
    names them. FileNotFoundError / NotADirectoryError when ``folder`` is not a folder."""
    if not folder.exists():
        raise FileNotFoundError(f"feedback folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"feedback folder {folder} is not a folder")
    items: list[FeedbackItem] = []
    skipped: list[tuple[str, str]] = []
    for sub in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if not sub.is_dir():
            continue
        try:
            item = read_item(sub, n_classes)
        except (FeedbackError, OSError) as exc:
            skipped.append((sub.name, str(exc)))
            continue
        theirs = item.meta.get("model")
        if model is not None and theirs is not None and theirs != model:
            skipped.append((sub.name, f"feedback for model {theirs}, not {model}"))
            continue
        items.append(item)
    if skipped:
        named = "; ".join(f"{n} ({why})" for n, why in skipped[:_MAX_LOGGED_NAMES])
        more = len(skipped) - _MAX_LOGGED_NAMES
        _log.warning(
            "feedback %s: skipped %d item(s): %s%s",
            folder,
            len(skipped),
            named,
            f"; and {more} more" if more > 0 else "",
        )
    counts = Counter(it.verdict for it in items)
    return FeedbackSet(folder, tuple(items), tuple(skipped), dict(counts))


def mask_to_model_input(mask: U8, size: tuple[int, int]) -> U8:
    """uint8 (H, W) class mask letterboxed and resized to ``size`` (H, W) by nearest
    neighbour: aligned with :func:`~._backends_segment.to_model_input` of its image."""
    square, _ = letterbox(np.ascontiguousarray(mask, np.uint8))
    if square.shape == tuple(size):
        return square
    return np.asarray(
        cv2.resize(square, (size[1], size[0]), interpolation=cv2.INTER_NEAREST), np.uint8
    )


def feedback_pairs(items: tuple[FeedbackItem, ...], size: tuple[int, int]) -> tuple[U8, U8]:
    """uint8 (N, H, W) grey images and (N, H, W) masks at ``size`` of the items that carry a
    mask (letterboxed and resized as at inference); ValueError when none does."""
    pairs = [
        (to_model_input(to_grey(it.image), size), mask_to_model_input(it.mask, size))
        for it in items
        if it.mask is not None
    ]
    if not pairs:
        raise ValueError("no feedback item with a mask (redraw or accept) to learn from")
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
