"""Needle detection with a tip-heatmap segmentation model (``us-needle``): mask and tip.

One model run gives both: the class logits become the needle mask at the frame's size, the
tip heatmap channel the sub-pixel tip in the frame's pixels with its confidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._backends import Backend
from ._backends_segment import logits_to_mask, to_model_input
from ._tip import input_to_image_px, tip_from_heatmap

U8 = npt.NDArray[np.uint8]

DETECT_PROB: Final = 0.5
"""Tip heatmap probability from which a needle tip counts as in view."""


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


def detect_needles(
    backend: Backend, images: Sequence[npt.ArrayLike] | Any, *, batch_size: int = 32
) -> Iterator[NeedleDetection]:
    """Needle mask and tip of each grey uint8 (H, W) frame: letterbox, resize, normalise,
    run; the class logits go back to the frame's size (``logits_to_mask``), the tip heatmap
    through :func:`tip_from_heatmap` and back to the frame's pixels. ValueError for a model
    without a tip heatmap."""
    model = backend.model
    if model.tip_channel is None:
        raise ValueError(f"model {model.name} has no tip heatmap channel")
    tip_channel = model.tip_channel
    for start in range(0, len(images), batch_size):
        chunk = [np.asarray(im, np.uint8) for im in images[start : start + batch_size]]
        x = model.preprocess(np.stack([to_model_input(im, model.input_size) for im in chunk]))
        logits = backend.run(x)
        for image, out in zip(chunk, logits, strict=True):
            shape = (int(image.shape[0]), int(image.shape[1]))
            tx, ty, conf = tip_from_heatmap(out[tip_channel])
            yield NeedleDetection(
                logits_to_mask(out[: model.n_classes], shape),
                input_to_image_px(tx, ty, model.input_size, shape),
                conf,
            )


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
