"""Needle detection with a tip-heatmap segmentation model (``us-needle``): mask and tip.

One model run gives both: the class logits become the needle mask at the frame's size, the
tip heatmap channel the sub-pixel tip in the frame's pixels with its confidence. Specks are
dropped from the mask (:func:`drop_specks`): pieces smaller than :data:`SPECK_INPUT_PX` model
input pixels, unless a found tip lies on or beside them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ._backends import Backend
from ._backends_segment import logits_to_mask, to_model_input
from ._models import ModelSpec
from ._tip import input_to_image_px, tip_from_heatmap

U8 = npt.NDArray[np.uint8]

DETECT_PROB: Final = 0.5
"""Tip heatmap probability from which a needle tip counts as in view."""
SPECK_INPUT_PX: Final = 16
"""Mask pieces (8-connected) smaller than this many model input pixels are specks."""
TIP_REACH_INPUT_PX: Final = 4.0
"""A speck within this many model input pixels of a found tip is kept (an entering needle)."""


def drop_specks(mask: U8, tip: tuple[float, float] | None, input_scale: float) -> U8:
    """``mask`` uint8 (H, W) without its specks: 8-connected non-zero pieces smaller than
    :data:`SPECK_INPUT_PX` model input pixels (``input_scale``: input px per frame px), unless
    ``tip`` (x, y) frame px is given and lies within :data:`TIP_REACH_INPUT_PX` of the piece."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    min_px = SPECK_INPUT_PX / input_scale**2
    small = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] < min_px]
    if not small:
        return mask
    if tip is not None:
        reach = TIP_REACH_INPUT_PX / input_scale
        near = np.zeros(mask.shape, bool)
        cv2.circle(near.view(np.uint8), (round(tip[0]), round(tip[1])), round(reach), 1, -1)
        touched = set(np.unique(lab[near]).tolist())
        small = [k for k in small if k not in touched]
    out = mask.copy()
    out[np.isin(lab, small)] = 0
    return out


@dataclass(frozen=True)
class NeedleDetection:
    """One frame's result in its own pixels: ``mask`` uint8 (H, W) class indices, ``tip``
    (x, y) px of the heatmap's sub-pixel peak (even when weak) and its ``confidence`` 0..1."""

    mask: U8
    tip: tuple[float, float]
    confidence: float

    @property
    def found(self) -> bool:
        """The tip heatmap says a needle tip is in view (confidence >= :data:`DETECT_PROB`)."""
        return self.confidence >= DETECT_PROB


def needle_from_output(
    out: npt.NDArray[Any], model: ModelSpec, shape: tuple[int, int]
) -> NeedleDetection:
    """One frame's :class:`NeedleDetection` from the model's output ``out`` (C, h, w) for a
    frame of ``shape`` (H, W): the class logits as a mask without specks, the tip heatmap's
    peak in frame px. ``model`` must have a tip heatmap channel."""
    assert model.tip_channel is not None, f"model {model.name} has no tip heatmap channel"
    tx, ty, conf = tip_from_heatmap(out[model.tip_channel])
    tip = input_to_image_px(tx, ty, model.input_size, shape)
    mask = logits_to_mask(out[: model.n_classes], shape)
    scale = max(model.input_size) / max(shape)  # input px per frame px (letterboxed)
    return NeedleDetection(
        drop_specks(mask, tip if conf >= DETECT_PROB else None, scale), tip, conf
    )


def detect_needles(
    backend: Backend, images: Sequence[npt.ArrayLike] | Any, *, batch_size: int = 32
) -> Iterator[NeedleDetection]:
    """Needle mask and tip of each grey uint8 (H, W) frame: letterbox, resize, normalise,
    run, then :func:`needle_from_output`. ValueError for a model without a tip heatmap."""
    model = backend.model
    if model.tip_channel is None:
        raise ValueError(f"model {model.name} has no tip heatmap channel")
    for start in range(0, len(images), batch_size):
        chunk = [np.asarray(im, np.uint8) for im in images[start : start + batch_size]]
        x = model.preprocess(np.stack([to_model_input(im, model.input_size) for im in chunk]))
        logits = backend.run(x)
        for image, out in zip(chunk, logits, strict=True):
            shape = (int(image.shape[0]), int(image.shape[1]))
            yield needle_from_output(out, model, shape)


def nearest_distance_mm(
    mask: npt.NDArray[Any], point_px: tuple[float, float], spacing_mm: tuple[float, float]
) -> float:
    """Distance (mm) from ``point_px`` (x, y) to the nearest nonzero pixel of ``mask`` (H, W),
    with (row, column) ``spacing_mm``; 0 inside the mask, NaN for an empty mask."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return float("nan")
    dy = (rows - point_px[1]) * spacing_mm[0]
    dx = (cols - point_px[0]) * spacing_mm[1]
    return float(np.sqrt(np.min(dx * dx + dy * dy)))
