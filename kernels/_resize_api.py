"""Resizing in the array API alone: OpenCV's pixels on any library and device.

How GPU arrays (CuPy, CUDA torch) are resized by :func:`~orstream.kernels.resize`: gathers for
"nearest" and "linear", two matrix products with box weights for "area". Images are
(..., H, W); pixel centres are aligned (OpenCV's convention, torch's ``align_corners=False``).
"""

from __future__ import annotations

from typing import Literal

import array_api_compat as aac
import numpy as np
import numpy.typing as npt

from ._arrays import Array

Interpolation = Literal["nearest", "linear", "area"]


def _nearest_index(n_in: int, n_out: int) -> npt.NDArray[np.int64]:
    """OpenCV's INTER_NEAREST source index of each output index: floor(i * n_in / n_out)."""
    step = 1.0 / (n_out / n_in)  # the same double arithmetic as cv::resize
    index: npt.NDArray[np.int64] = np.floor(np.arange(n_out) * step).astype(np.int64)
    return np.minimum(index, n_in - 1)


def _linear_taps(
    n_in: int, n_out: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Source indices i0, i1 and the weight of i1 of each output index, pixel centres aligned
    and the border replicated (OpenCV's INTER_LINEAR)."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    i0 = np.floor(src).astype(np.int64)
    frac = src - i0
    frac[i0 < 0] = 0.0
    i0 = np.clip(i0, 0, n_in - 1)
    frac[i0 >= n_in - 1] = 0.0
    return i0, np.minimum(i0 + 1, n_in - 1), frac.astype(np.float32)


def _area_weights(n_in: int, n_out: int) -> npt.NDArray[np.float32]:
    """(n_out, n_in) weights of OpenCV's INTER_AREA shrink: the share of each output pixel's
    box [i * s, (i + 1) * s), s = n_in / n_out >= 1, that each input pixel covers."""
    scale = n_in / n_out
    edges = np.arange(n_out + 1) * scale
    j = np.arange(n_in)[None, :]
    overlap = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)
    weights: npt.NDArray[np.float32] = (np.clip(overlap, 0.0, None) / scale).astype(np.float32)
    return weights


def resize_array_api(x: Array, size: tuple[int, int], interpolation: Interpolation) -> Array:
    """``x`` (..., H, W) resampled to (..., h, w) = ``size`` in the array API alone (any
    library, any device; how GPU arrays are resized), same dtype: "nearest" picks OpenCV's
    source pixels exactly (gathers); "linear" is OpenCV's bilinear weighting (gathers); "area"
    shrinks as OpenCV does (two matrix products with the box weights; ValueError if it would
    enlarge). Arithmetic in float32, integer images rounded: within one grey level of
    OpenCV's result."""
    xp = aac.array_namespace(x)
    dev = aac.device(x)
    (rows, cols), (h, w) = x.shape[-2:], size
    if interpolation == "area":
        if h > rows or w > cols:
            raise ValueError(f"'area' only shrinks here ({rows}x{cols} -> {h}x{w}); use linear")
        a = xp.asarray(_area_weights(rows, h), device=dev)
        b = xp.asarray(np.ascontiguousarray(_area_weights(cols, w).T), device=dev)
        out = xp.matmul(xp.matmul(a, xp.astype(x, xp.float32)), b)
        return xp.astype(xp.round(out) if xp.isdtype(x.dtype, "integral") else out, x.dtype)
    if interpolation == "nearest":
        r, c = (
            xp.asarray(i, device=dev) for i in (_nearest_index(rows, h), _nearest_index(cols, w))
        )
        return xp.take(xp.take(x, r, axis=-2), c, axis=-1)
    (r0, r1, fr), (c0, c1, fc) = _linear_taps(rows, h), _linear_taps(cols, w)
    r0, r1, c0, c1 = (xp.asarray(i, device=dev) for i in (r0, r1, c0, c1))
    fr = xp.reshape(xp.asarray(fr, device=dev), (h, 1))
    fc = xp.asarray(fc, device=dev)
    f = xp.astype(x, xp.float32)
    top, bottom = xp.take(f, r0, axis=-2), xp.take(f, r1, axis=-2)
    v = top + (bottom - top) * fr
    left, right = xp.take(v, c0, axis=-1), xp.take(v, c1, axis=-1)
    out = left + (right - left) * fc
    if xp.isdtype(x.dtype, "integral"):
        out = xp.round(out)
    return xp.astype(out, x.dtype)
