"""Clinician feedback from the OR display, written as the feedback folder format v1.

:func:`parse_feedback` checks a request body (a JSON object) and gives a
:class:`FeedbackRequest`, or raises :class:`FeedbackError` with the HTTP status to answer;
:func:`write_feedback` writes one item for a frame the display still holds through
:func:`write_feedback_item`, the one writer of the format (scripts and tests write items with
it too): a folder ``DIR/<stream_id>-<seq:08d>-<created_ns>/`` with ``image.png``, ``mask.png``
(accept, redraw) and ``feedback.json``, written under a temporary name and renamed, so a reader
never sees half an item. The format is docs/feedback-format.md; its reader is
``orstream.kernels.read_feedback``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ._display_hub import HeldFrame
from ._display_telemetry import to_grey_or_rgb8

FORMAT: Final = "orstream-feedback"
VERSION: Final = 1
VERDICTS: Final = ("accept", "reject", "redraw", "move_tip")
MAX_POLYGON_POINTS: Final = 2000
_KEYS: Final = frozenset({"stream", "seq", "verdict", "mask", "label", "polygon_px", "tip_px"})
_MAX_ID_CHARS: Final = 128


class FeedbackError(ValueError):
    """A feedback request that is refused: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class FeedbackRequest:
    """One verdict on a held frame: ``mask`` names the result key of the model's mask (accept,
    redraw), ``label`` the class index redrawn, ``polygon_px`` the user's contour and
    ``tip_px`` the moved tip, (x, y) image px."""

    stream: str
    seq: int
    verdict: str
    mask: str | None
    label: int | None
    polygon_px: tuple[tuple[float, float], ...] | None
    tip_px: tuple[float, float] | None


def _point(value: Any, what: str) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise FeedbackError(400, f"{what} must be [x, y] with finite numbers")
    return float(value[0]), float(value[1])


def parse_feedback(body: Any) -> FeedbackRequest:
    """The request in ``body`` (decoded JSON); FeedbackError(400) naming what is wrong."""
    if not isinstance(body, dict):
        raise FeedbackError(400, "feedback must be a JSON object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise FeedbackError(400, f"unknown key(s) {unknown}")
    stream, seq, verdict = body.get("stream"), body.get("seq"), body.get("verdict")
    if not isinstance(stream, str) or not 0 < len(stream) <= _MAX_ID_CHARS:
        raise FeedbackError(400, f"stream must be a string of 1..{_MAX_ID_CHARS} characters")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise FeedbackError(400, "seq must be a whole number >= 0")
    if verdict not in VERDICTS:
        raise FeedbackError(400, f"verdict must be one of {', '.join(VERDICTS)}")
    mask = body.get("mask")
    if mask is not None and (not isinstance(mask, str) or len(mask) > _MAX_ID_CHARS):
        raise FeedbackError(400, "mask must be the name of a mask result")
    if verdict in ("accept", "redraw") and mask is None:
        raise FeedbackError(400, f"{verdict} needs mask (the mask result it is about)")
    label = body.get("label")
    polygon: tuple[tuple[float, float], ...] | None = None
    if verdict == "redraw":
        if not isinstance(label, int) or isinstance(label, bool) or not 1 <= label <= 255:
            raise FeedbackError(400, "redraw needs label, a class index 1..255")
        raw = body.get("polygon_px")
        if not isinstance(raw, list) or not 3 <= len(raw) <= MAX_POLYGON_POINTS:
            raise FeedbackError(400, f"polygon_px must be 3..{MAX_POLYGON_POINTS} points")
        polygon = tuple(_point(p, "each polygon point") for p in raw)
    elif label is not None:
        raise FeedbackError(400, "label is only for redraw")
    tip = _point(body.get("tip_px"), "tip_px") if verdict == "move_tip" else None
    return FeedbackRequest(stream, seq, verdict, mask, label if polygon else None, polygon, tip)


def _inside(point: tuple[float, float], width: int, height: int) -> bool:
    return -0.5 <= point[0] <= width - 0.5 and -0.5 <= point[1] <= height - 0.5


def _png(image: npt.NDArray[Any]) -> bytes:
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError(f"cannot store pixels of {image.dtype} {image.shape} as PNG")
    return encoded.tobytes()


def safe_stream_id(stream: str) -> str:
    """``stream`` reduced to [A-Za-z0-9_.-] (others become ``_``), for a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stream) or "_"


def _whole(meta: Mapping[str, Any], key: str) -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"feedback {key} must be a whole number >= 0; got {value!r}")
    return value


def write_feedback_item(
    root: str | os.PathLike[str],
    image: npt.ArrayLike,
    mask: npt.ArrayLike | None,
    meta: Mapping[str, Any],
) -> Path:
    """Write one item of the format into ``root`` (created) and return its folder.

    ``image``: uint8 grey (H, W) or RGB (H, W, 3); ``mask``: class indices (H, W), stored as
    uint8, or None; ``meta``: the feedback.json fields (``format`` and ``version`` are set here;
    ``verdict``, ``stream_id``, ``seq`` and ``created_ns`` are required, other keys are kept).
    ValueError, and nothing written, for an unknown verdict, a missing name field, an image
    that is not uint8 grey or RGB, or a mask of another size than the image.
    """
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    doc.update((key, value) for key, value in meta.items() if key not in doc)
    if doc.get("verdict") not in VERDICTS:
        raise ValueError(f"verdict {doc.get('verdict')!r} is not one of {', '.join(VERDICTS)}")
    stream_id = doc.get("stream_id")
    if not isinstance(stream_id, str):
        raise ValueError(f"feedback stream_id must be a string; got {stream_id!r}")
    seq, created_ns = _whole(doc, "seq"), _whole(doc, "created_ns")
    pixels = np.ascontiguousarray(image)
    if pixels.dtype != np.uint8 or not (
        pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)
    ):
        raise ValueError(
            f"image must be uint8 (H, W) or (H, W, 3); got {pixels.dtype} {pixels.shape}"
        )
    labels = None if mask is None else np.ascontiguousarray(mask, np.uint8)
    if labels is not None and labels.shape != pixels.shape[:2]:
        raise ValueError(f"mask is {labels.shape}; the image is {pixels.shape[:2]}")
    files = {"image.png": _png(pixels), "feedback.json": json.dumps(doc, indent=1).encode()}
    if labels is not None:
        files["mask.png"] = _png(labels)
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    name = f"{safe_stream_id(stream_id)}-{seq:08d}-{created_ns}"
    temporary = root_path / f".tmp-{name}"
    temporary.mkdir()
    try:
        for file_name, data in files.items():
            (temporary / file_name).write_bytes(data)
        final = root_path / name
        temporary.rename(final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return final


def write_feedback(
    root: str | os.PathLike[str],
    request: FeedbackRequest,
    held: HeldFrame,
    mask_models: Mapping[str, str] | None = None,
) -> Path:
    """Write ``request`` on ``held`` as one item under ``root`` (created); its folder.

    FeedbackError(422) when the mask named is not one of the frame's, or a point lies outside
    the image; nothing is written then. ``mask_models``: mask result key to model name.
    """
    height, width = held.pixels.shape[:2]
    mask: npt.NDArray[np.uint8] | None = None
    if request.mask is not None and request.verdict in ("accept", "redraw"):
        model_mask = held.masks.get(request.mask)
        if model_mask is None:
            raise FeedbackError(422, f"frame has no mask {request.mask!r}")
        mask = np.array(model_mask, np.uint8, copy=True)
    for point in (*(request.polygon_px or ()), *([request.tip_px] if request.tip_px else [])):
        if not _inside(point, width, height):
            raise FeedbackError(422, f"point {list(point)} lies outside the {width}x{height} image")
    if request.verdict == "redraw" and mask is not None and request.polygon_px is not None:
        mask[mask == request.label] = 0
        polygon = np.round(np.array(request.polygon_px)).astype(np.int32)
        cv2.fillPoly(mask, [polygon], int(request.label or 0))
    meta = {
        "verdict": request.verdict,
        "model": None if request.mask is None else (mask_models or {}).get(request.mask),
        "modality": held.modality,
        "stream_id": held.stream_id,
        "seq": held.seq,
        "t_capture_ns": held.t_capture_ns,
        "spacing_mm": None if held.spacing_mm is None else list(held.spacing_mm),
        "label": request.label,
        "polygon_px": None if request.polygon_px is None else [list(p) for p in request.polygon_px],
        "tip_px": None if request.tip_px is None else list(request.tip_px),
        "created_ns": time.time_ns(),
    }
    try:  # uint8 as the format says; 16-bit frames are stretched from their own min..max
        return write_feedback_item(root, to_grey_or_rgb8(held.pixels), mask, meta)
    except ValueError as exc:
        raise FeedbackError(422, str(exc)) from None
