"""Pre- and post-processing with one code path for numpy, CuPy and torch arrays (array API).

Everything the array API standard covers (arithmetic, ``argmax``, ``take``, comparisons) goes
through ``array_api_compat.array_namespace(x)``, so a CuPy or CUDA-torch array stays on its
device and the result lives where the input did. Where the standard has no operation (resize,
connected components, contours) the function dispatches on the array's library
(``_arrays``):

- numpy: OpenCV (the reference path, tested here);
- torch on the CPU: a zero-copy numpy view, then OpenCV (tested here);
- CuPy, or torch on a GPU: :func:`resize_array_api` (gathers and matrix products) for
  resizing, and ``cupyx.scipy.ndimage`` (imported lazily, with an install hint; torch goes
  to CuPy through DLPack, no copy) for connected components. ``tests/kernels/test_gpu.py`` checks
  this path against the numpy one on a GPU (``scripts/gpu-check``; results in
  docs/benchmarks/gpu.md); CI has no GPU and skips it.

Images are (..., H, W): the last two axes are rows and columns; a coordinate pair is (x, y) in
pixels, x along columns. Boxes are (x0, y0, width, height) in pixels (OpenCV's ``Rect``).
Scan conversion lives in ``_scan_convert``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import array_api_compat as aac
import cv2
import numpy as np
import numpy.typing as npt

from ._arrays import Array, array_kind, cupy_modules, match_library, to_cupy, to_numpy
from ._resize_api import Interpolation, resize_array_api

Box = tuple[int, int, int, int]
"""(x0, y0, width, height) in pixels."""

_CV_INTERP = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}


# -- array API operations ------------------------------------------------------------------------
def normalize(
    x: Array,
    mean: float | Sequence[float] = 0.0,
    std: float | Sequence[float] = 1.0,
    *,
    scale: float = 1.0 / 255.0,
    channel_axis: int = -3,
) -> Array:
    """``(x * scale - mean) / std`` as float32, same library and device as ``x``.

    ``x``: any shape and real dtype (uint8 frames: the default ``scale`` maps 0..255 to 0..1).
    ``mean``/``std``: scalars, or one value per channel along ``channel_axis`` (default -3, the
    C of (..., C, H, W)). Returns a new float32 array of ``x``'s shape.
    """
    m_np = np.asarray(mean, np.float32).reshape(-1)
    s_np = np.asarray(std, np.float32).reshape(-1)
    if np.any(s_np <= 0) or not np.all(np.isfinite(s_np)) or not np.all(np.isfinite(m_np)):
        raise ValueError(f"std must be positive and mean finite; got mean {mean}, std {std}")
    xp = aac.array_namespace(x)
    dev = aac.device(x)
    y = xp.astype(x, xp.float32) * scale
    shape = [1] * y.ndim
    if max(m_np.size, s_np.size) > 1:
        n = y.shape[channel_axis]
        if m_np.size not in (1, n) or s_np.size not in (1, n):
            raise ValueError(f"mean/std need 1 or {n} values (axis {channel_axis} of {y.shape})")
        shape[channel_axis] = n
    m, s = (
        xp.asarray(v.reshape(shape if v.size > 1 else [1] * y.ndim), device=dev)
        for v in (m_np, s_np)
    )
    return (y - m) / s


def crop(x: Array, box: Box) -> Array:
    """The (..., h, w) window ``box`` = (x0, y0, w, h) px of ``x`` (..., H, W): a view, no copy.

    The box is clipped to the image, so a box partly outside gives a smaller window; one fully
    outside raises ``ValueError``.
    """
    x0, y0, w, h = (int(v) for v in box)
    rows, cols = x.shape[-2], x.shape[-1]
    c0, r0 = max(x0, 0), max(y0, 0)
    c1, r1 = min(x0 + w, cols), min(y0 + h, rows)
    if w <= 0 or h <= 0 or c1 <= c0 or r1 <= r0:
        raise ValueError(f"crop box {box} (x0, y0, w, h) lies outside the {cols}x{rows} image")
    return x[..., r0:r1, c0:c1]


def resize(x: Array, size: tuple[int, int], interpolation: Interpolation = "linear") -> Array:
    """``x`` (..., H, W) resampled to (..., h, w) = ``size``; same library, device and dtype.

    Pixel centres are aligned (OpenCV's convention, torch's ``align_corners=False``).
    ``interpolation``: "nearest" (labels, masks), "linear", or "area" (averaging, the one to
    shrink images with). An integer "area" shrink is a block mean in the array API on every
    backend; other cases go to OpenCV (numpy, CPU torch) or, for GPU arrays, to
    :func:`resize_array_api` (the same pixels; there "area" only shrinks). bool masks need
    "nearest".
    """
    h, w = (int(v) for v in size)
    rows, cols = x.shape[-2], x.shape[-1]
    if h <= 0 or w <= 0:
        raise ValueError(f"resize size must be positive (h, w); got {size}")
    if interpolation not in _CV_INTERP:
        raise ValueError(f"interpolation must be one of {sorted(_CV_INTERP)}; got {interpolation}")
    if (h, w) == (rows, cols):
        return x
    xp = aac.array_namespace(x)
    if x.dtype == xp.bool and interpolation != "nearest":
        raise ValueError("a bool mask can only be resized with interpolation='nearest'")
    if interpolation == "area" and rows % h == 0 and cols % w == 0:
        fy, fx = rows // h, cols // w
        blocks = xp.reshape(xp.astype(x, xp.float32), (*x.shape[:-2], h, fy, w, fx))
        mean = xp.mean(xp.mean(blocks, axis=-1), axis=-2)
        if xp.isdtype(x.dtype, "integral"):
            mean = xp.round(mean)
        return xp.astype(mean, x.dtype)
    if array_kind(x) == "gpu":
        return resize_array_api(x, (h, w), interpolation)
    a = to_numpy(x)
    lead = a.shape[:-2]
    flat = np.moveaxis(a.reshape(-1, rows, cols), 0, -1)  # (H, W, n) for OpenCV
    as_bool = a.dtype == np.bool_
    if as_bool:
        flat = flat.view(np.uint8)
    out = np.empty((h, w, flat.shape[-1]), dtype=flat.dtype)
    for i in range(0, flat.shape[-1], 4):  # OpenCV's area resize takes at most 4 channels
        part = cv2.resize(flat[..., i : i + 4], (w, h), interpolation=_CV_INTERP[interpolation])
        out[..., i : i + 4] = part.reshape(h, w, -1)
    res = np.ascontiguousarray(np.moveaxis(out, -1, 0)).reshape(*lead, h, w)
    return match_library(res.astype(np.bool_) if as_bool else res, x)


def softmax(logits: Array, axis: int = -3) -> Array:
    """Softmax probabilities along the class ``axis`` (default -3 of (..., C, H, W)), float32."""
    xp = aac.array_namespace(logits)
    z = xp.astype(logits, xp.float32)
    e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def argmax_labels(scores: Array, axis: int = -3) -> Array:
    """Class-index map from scores (logits or probabilities), class ``axis`` default -3.

    (..., C, H, W) -> (..., H, W) uint8 (C <= 256; int32 beyond), same device.
    """
    xp = aac.array_namespace(scores)
    labels = xp.argmax(scores, axis=axis)
    return xp.astype(labels, xp.uint8 if scores.shape[axis] <= 256 else xp.int32)


def max_probability(probs: Array, axis: int = -3) -> Array:
    """Per-pixel confidence: the largest class probability, (..., C, H, W) -> (..., H, W)."""
    xp = aac.array_namespace(probs)
    return xp.max(probs, axis=axis)


def threshold(x: Array, level: float) -> Array:
    """``x > level`` as a bool array of ``x``'s shape, same device (heatmaps, probabilities)."""
    return x > level


# -- dispatched operations -----------------------------------------------------------------------
def largest_component(mask: Array, connectivity: Literal[4, 8] = 8) -> Array:
    """The largest connected component of a (H, W) mask (nonzero = foreground) as bool.

    Same library and device as ``mask``; all False when the mask is empty. Ties go to the
    component found first in row-major order.
    """
    if mask.ndim != 2:
        raise ValueError(f"largest_component needs a (H, W) mask; got shape {tuple(mask.shape)}")
    if array_kind(mask) == "gpu":  # pragma: no cover - needs a GPU
        cp, ndi = cupy_modules()
        m = to_cupy(mask) != 0
        structure = cp.ones((3, 3), bool) if connectivity == 8 else None
        lab, n = ndi.label(m, structure=structure)
        if int(n) == 0:
            return match_library(m, mask)
        counts = cp.bincount(lab.ravel())
        counts[0] = 0
        return match_library(lab == int(cp.argmax(counts)), mask)
    m = np.ascontiguousarray(to_numpy(mask) != 0).view(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=connectivity)
    if n <= 1:
        return match_library(np.zeros(m.shape, np.bool_), mask)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return match_library(lab == best, mask)


def contours(mask: Array) -> list[npt.NDArray[np.int32]]:
    """Outer boundaries of the components of a (H, W) mask: a list of (K, 2) int32 numpy arrays
    of (x, y) pixel centres along each boundary, largest area first.

    On every backend the result is small host data: a GPU mask is copied to the host and traced
    with OpenCV (there is no contour tracer in cupyx).
    """
    if mask.ndim != 2:
        raise ValueError(f"contours needs a (H, W) mask; got shape {tuple(mask.shape)}")
    m = np.ascontiguousarray(to_numpy(mask) != 0).view(np.uint8)
    found, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = [np.asarray(c, np.int32).reshape(-1, 2) for c in found]
    areas = [cv2.contourArea(c) + len(c) for c in out]
    return [out[i] for i in np.argsort(areas, kind="stable")[::-1]]


def subpixel_peak(
    heatmap: Array, method: Literal["quadratic", "centroid"] = "quadratic"
) -> tuple[float, float, float]:
    """Sub-pixel location of the maximum of a (H, W) heatmap: (x, y) px and the peak value.

    The argmax runs on the array's device; only its 3x3 (or 5x5) neighbourhood comes to the
    host. "quadratic": a parabola through the peak and its two neighbours along each axis,
    fitted to the log of the values when they are all positive (exact for a Gaussian blob),
    offset clipped to +/-0.5 px; "centroid": the value-weighted centroid of the 5x5
    neighbourhood above its minimum. A peak on the border is not refined across the border.
    """
    if heatmap.ndim != 2:
        raise ValueError(f"subpixel_peak needs a (H, W) heatmap; got shape {tuple(heatmap.shape)}")
    xp = aac.array_namespace(heatmap)
    rows, cols = heatmap.shape
    k = int(xp.argmax(xp.reshape(heatmap, (-1,))))
    r, c = divmod(k, cols)
    half = 1 if method == "quadratic" else 2
    r0, r1 = max(r - half, 0), min(r + half + 1, rows)
    c0, c1 = max(c - half, 0), min(c + half + 1, cols)
    win = to_numpy(heatmap[r0:r1, c0:c1]).astype(np.float64)
    pr, pc = r - r0, c - c0
    peak = float(win[pr, pc])
    if method == "centroid":
        w = win - win.min()
        total = float(w.sum())
        if total <= 0:
            return float(c), float(r), peak
        yy, xx = np.mgrid[r0:r1, c0:c1]
        return float((w * xx).sum() / total), float((w * yy).sum() / total), peak
    dx = _parabola(win[pr, pc - 1 : pc + 2]) if 0 < pc < win.shape[1] - 1 else 0.0
    dy = _parabola(win[pr - 1 : pr + 2, pc]) if 0 < pr < win.shape[0] - 1 else 0.0
    return c + dx, r + dy, peak


def _parabola(v: npt.NDArray[np.float64]) -> float:
    """Vertex offset in [-0.5, 0.5] of a parabola through (-1, v0), (0, v1), (1, v2)."""
    if float(v.min()) > 0:
        v = np.log(v)
    den = float(v[0] - 2.0 * v[1] + v[2])
    if den >= 0:  # flat or not a maximum
        return 0.0
    return float(np.clip(0.5 * (v[0] - v[2]) / den, -0.5, 0.5))
