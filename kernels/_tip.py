"""Tip heatmaps: where a model's tip channel peaks, how sure it is, and where that is in the image.

A tip model (``ModelSpec.tip_channel``) outputs one heatmap *logit* channel after its class
logits, trained with a CenterNet focal loss on Gaussian targets (1.0 at the tip, all 0 when no
tip is in view). :func:`tip_from_heatmap` turns one (H, W) logit map into a sub-pixel tip and
a confidence, :func:`tip_candidates` into its few strongest separate peaks;
:func:`input_to_image_px` and :func:`image_to_input_px` convert between the model's input pixels
and those of the original image under the letterbox convention of ``segment_images`` (black
padding to a centred square, then a resize to the model's input);
:func:`heatmap_target` is the training target of a tip.
Coordinates are (x, y) px, x along columns, pixel centres at integers. Works on numpy, CuPy
and torch maps (array API); only the peak's 3x3 neighbourhood comes to the host.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat as aac
import numpy as np
import numpy.typing as npt

from ._arrays import to_numpy
from ._prepost import subpixel_peak

__all__ = [
    "heatmap_target",
    "image_to_input_px",
    "input_to_image_px",
    "tip_candidates",
    "tip_from_heatmap",
]


def tip_from_heatmap(logit_map: Any) -> tuple[float, float, float]:
    """(x, y, confidence) of a tip heatmap: ``logit_map`` float32 (H, W) logits (one channel
    of a tip model's output, at the model's input size, e.g. ``logits[i, spec.tip_channel]``).

    The map goes through a sigmoid (computed as ``0.5 * (1 + tanh(z / 2))``: no overflow for
    large logits), then :func:`subpixel_peak` ("quadratic": a parabola through the log of the
    peak and its neighbours along each axis, exact for a Gaussian blob, offset within +/-0.5
    px). ``x``, ``y``: sub-pixel peak position in the map's pixels; ``confidence``: the sigmoid
    probability at the peak pixel, 0-1 (a threshold of 0.5 says "a tip is in view").
    ValueError if ``logit_map`` is not 2-D.
    """
    if logit_map.ndim != 2:
        raise ValueError(f"tip_from_heatmap needs a (H, W) logit map; got {tuple(logit_map.shape)}")
    xp = aac.array_namespace(logit_map)
    prob = 0.5 * (1.0 + xp.tanh(0.5 * logit_map))
    x, y, peak = subpixel_peak(prob)
    return x, y, float(min(max(peak, 0.0), 1.0))


def tip_candidates(
    logit_map: Any, *, floor: float = 0.1, k: int = 10, min_distance_px: float = 3.0
) -> list[tuple[float, float, float]]:
    """Up to ``k`` tip candidates (x, y, probability) of a (H, W) tip logit map, strongest
    first: peaks of the sigmoid at least ``floor``, each at least ``min_distance_px`` from any
    stronger one (greedy non-maximum suppression), refined like :func:`tip_from_heatmap`.

    For a tracker that picks the candidate its prediction vouches for when the strongest is
    elsewhere (under contrast a vessel end can outscore a fading tip). Empty when nothing
    reaches ``floor``. Only the pixels above ``floor`` (at most 64 k of the strongest) and the
    3x3 neighbourhoods of the kept peaks come to the host.
    """
    if logit_map.ndim != 2:
        raise ValueError(f"tip_candidates needs a (H, W) logit map; got {tuple(logit_map.shape)}")
    if not 0.0 < floor < 1.0 or k < 1 or min_distance_px < 0:
        raise ValueError(f"need 0 < floor < 1, k >= 1, min_distance_px >= 0; got {floor}, {k}")
    xp = aac.array_namespace(logit_map)
    prob = 0.5 * (1.0 + xp.tanh(0.5 * logit_map))
    rows, cols = prob.shape
    flat = xp.reshape(prob, (-1,))
    index = xp.nonzero(flat >= floor)[0]
    values = np.asarray(to_numpy(flat[index]), np.float64)
    index = np.asarray(to_numpy(index), np.int64)
    order = np.argsort(-values, kind="stable")[:65536]
    out: list[tuple[float, float, float]] = []
    limit2 = min_distance_px * min_distance_px
    for i in order:
        r, c = divmod(int(index[i]), cols)
        if any((r - y) ** 2 + (c - x) ** 2 < limit2 for x, y, _ in out):
            continue
        r0, c0 = max(r - 1, 0), max(c - 1, 0)
        window = to_numpy(prob[r0 : min(r + 2, rows), c0 : min(c + 2, cols)])
        if float(window.max()) > values[i]:  # a slope of a stronger peak
            continue
        x, y, _ = subpixel_peak(window)
        out.append((c0 + x, r0 + y, min(max(float(values[i]), 0.0), 1.0)))
        if len(out) == k:
            break
    return out


def _letterbox(input_size: tuple[int, int], image_shape: tuple[int, int]) -> tuple[float, ...]:
    in_h, in_w = input_size
    h, w = image_shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    return side / in_w, side / in_h, float(left), float(top)


def input_to_image_px(
    x: float, y: float, input_size: tuple[int, int], image_shape: tuple[int, int]
) -> tuple[float, float]:
    """(x, y) px in an image of ``image_shape`` (H, W) of the point (``x``, ``y``) px in the
    model input of ``input_size`` (H, W) the image was letterboxed and resized to (the
    convention of ``segment_images``). May fall outside the image (in the padding)."""
    sx, sy, left, top = _letterbox(input_size, image_shape)
    return (x + 0.5) * sx - 0.5 - left, (y + 0.5) * sy - 0.5 - top


def image_to_input_px(
    x: float, y: float, input_size: tuple[int, int], image_shape: tuple[int, int]
) -> tuple[float, float]:
    """The inverse of :func:`input_to_image_px`: (x, y) px of an image of ``image_shape``
    (H, W) to px of the model input of ``input_size`` (H, W)."""
    sx, sy, left, top = _letterbox(input_size, image_shape)
    return (x + 0.5 + left) / sx - 0.5, (y + 0.5 + top) / sy - 0.5


def heatmap_target(
    tip: tuple[float, float] | npt.NDArray[np.float64],
    shape: tuple[int, int],
    sigma: float = 2.0,
) -> npt.NDArray[np.float32]:
    """float32 (H, W) tip target: a Gaussian of ``sigma`` px around ``tip`` (x, y) px, exactly
    1.0 at the pixel nearest to it (the one positive of the focal loss); all 0 when the tip is
    NaN or outside the image."""
    h, w = shape
    heat = np.zeros(shape, np.float32)
    x, y = float(tip[0]), float(tip[1])
    if not (math.isfinite(x) and math.isfinite(y)) or not (-0.5 <= x < w - 0.5):
        return heat
    if not -0.5 <= y < h - 0.5:
        return heat
    gx = np.exp(-((np.arange(w, dtype=np.float32) - x) ** 2) / (2 * sigma * sigma))
    gy = np.exp(-((np.arange(h, dtype=np.float32) - y) ** 2) / (2 * sigma * sigma))
    heat = np.outer(gy, gx).astype(np.float32)
    heat[min(math.floor(y + 0.5), h - 1), min(math.floor(x + 0.5), w - 1)] = 1.0
    return heat
