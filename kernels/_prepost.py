"""Pre- and post-processing with one code path for numpy, CuPy and torch arrays (array API).

Everything the array API standard covers (arithmetic, ``argmax``, ``take``, comparisons) goes
through ``array_api_compat.array_namespace(x)``, so a CuPy or CUDA-torch array stays on its
device and the result lives where the input did. Where the standard has no operation (resize,
connected components, contours) the function dispatches on the array's library:

- numpy: OpenCV (the reference path, tested here);
- torch on the CPU: a zero-copy numpy view, then OpenCV (tested here);
- CuPy, or torch on a GPU: :func:`resize_array_api` (gathers and matrix products) for
  resizing, and ``cupyx.scipy.ndimage`` (imported lazily, with an install hint; torch goes
  to CuPy through DLPack, no copy) for connected components. ``tests/test_gpu.py`` checks
  this path against the numpy one on a GPU (``scripts/gpu-check``; results in
  docs/benchmarks/gpu.md); CI has no GPU and skips it.

Images are (..., H, W): the last two axes are rows and columns; a coordinate pair is (x, y) in
pixels, x along columns. Boxes are (x0, y0, width, height) in pixels (OpenCV's ``Rect``).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import array_api_compat as aac
import cv2
import numpy as np
import numpy.typing as npt

Array = Any
"""An array of any array-API library (numpy, CuPy, torch); shapes and dtypes in docstrings."""
Box = tuple[int, int, int, int]
"""(x0, y0, width, height) in pixels."""
Interpolation = Literal["nearest", "linear", "area"]

_CV_INTERP = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}
_REMAP_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)


# -- backends ------------------------------------------------------------------------------------
def _kind(x: Array) -> Literal["numpy", "torch_cpu", "gpu"]:
    """Which dispatch path serves ``x``: numpy, torch on the CPU (numpy view) or a GPU array."""
    if aac.is_numpy_array(x):
        return "numpy"
    if aac.is_torch_array(x) and x.device.type == "cpu":
        return "torch_cpu"
    if aac.is_cupy_array(x) or aac.is_torch_array(x):
        return "gpu"
    raise TypeError(f"unsupported array type {type(x).__name__}: use numpy, CuPy or torch")


def _cupy() -> tuple[Any, Any]:
    """(cupy, cupyx.scipy.ndimage), or an ImportError that says how to install them."""
    try:  # by name: no CuPy stubs needed where it is absent
        cupy = importlib.import_module("cupy")
        ndi = importlib.import_module("cupyx.scipy.ndimage")
    except ImportError as exc:  # pragma: no cover - needs a GPU
        raise ImportError(
            "this operation on a GPU array needs CuPy: pip install 'orstream[gpu]' "
            "(cupy-cuda12x); or pass a numpy array"
        ) from exc
    return cupy, ndi


def _to_cupy(x: Array) -> Array:  # pragma: no cover - needs a GPU
    """A CuPy view of a CuPy or CUDA-torch array (DLPack, no copy)."""
    cp, _ = _cupy()
    return x if aac.is_cupy_array(x) else cp.from_dlpack(x)


def _like(result: Any, x: Array) -> Array:
    """``result`` (numpy or CuPy) back in ``x``'s library: torch in, torch out (no copy)."""
    if aac.is_torch_array(x):
        import torch
        from torch.utils.dlpack import from_dlpack

        if isinstance(result, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(result))
        return from_dlpack(result)  # pragma: no cover - needs a GPU
    return result


def to_numpy(x: Array) -> npt.NDArray[Any]:
    """``x`` as a numpy array: a view for numpy and CPU torch, a device-to-host copy for GPUs."""
    if isinstance(x, np.ndarray):
        return x
    if aac.is_torch_array(x):
        return np.asarray(x.detach().cpu().numpy())
    if aac.is_cupy_array(x):  # pragma: no cover - needs a GPU
        return np.asarray(x.get())
    return np.from_dlpack(x)


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
    if _kind(x) == "gpu":
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
    return _like(res.astype(np.bool_) if as_bool else res, x)


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
    """:func:`resize` in the array API alone (any library, any device; how GPU arrays are
    resized): "nearest" picks OpenCV's source pixels exactly (gathers); "linear" is OpenCV's
    bilinear weighting (gathers); "area" shrinks as OpenCV does (two matrix products with the
    box weights; ValueError if it would enlarge). Arithmetic in float32, integer images
    rounded: within one grey level of OpenCV's result."""
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
    if _kind(mask) == "gpu":  # pragma: no cover - needs a GPU
        cp, ndi = _cupy()
        m = _to_cupy(mask) != 0
        structure = cp.ones((3, 3), bool) if connectivity == 8 else None
        lab, n = ndi.label(m, structure=structure)
        if int(n) == 0:
            return _like(m, mask)
        counts = cp.bincount(lab.ravel())
        counts[0] = 0
        return _like(lab == int(cp.argmax(counts)), mask)
    m = np.ascontiguousarray(to_numpy(mask) != 0).view(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=connectivity)
    if n <= 1:
        return _like(np.zeros(m.shape, np.bool_), mask)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return _like(lab == best, mask)


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


# -- scan conversion -----------------------------------------------------------------------------
def sector_lookup(
    shape: tuple[int, int],
    spacing_mm: float,
    apex_px: tuple[float, float],
    *,
    n_samples: int,
    n_beams: int,
    depth_mm: float,
    angle_deg: float,
    start_mm: float = 0.0,
    outside: float = -1.0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Where each pixel of a sector raster lies in its polar (beam-space) data.

    The raster is (H, W) = ``shape`` with square pixels of ``spacing_mm`` and the sector apex
    at ``apex_px`` (x, y) px; the polar data is (``n_samples``, ``n_beams``) as in
    :class:`SectorMap`. Returns ``(map_x, map_y, inside)``: (H, W) float32 beam and sample
    index of each pixel (``outside`` beyond the sector, e.g. for ``cv2.remap``) and (H, W)
    bool. The one sector geometry of the scan converter here and of the simulators' B-mode.
    """
    h, w = shape
    ax, ay = apex_px
    half = math.radians(angle_deg) / 2
    x, y = np.meshgrid((np.arange(w) - ax) * spacing_mm, (np.arange(h) - ay) * spacing_mm)
    r, th = np.hypot(x, y), np.arctan2(x, y)
    inside = (r >= start_mm) & (r <= depth_mm) & (np.abs(th) <= half) & (y >= 0)
    mx = (th + half) / (2 * half) * (n_beams - 1)
    my = (r - start_mm) / (depth_mm - start_mm) * (n_samples - 1)
    mx[~inside], my[~inside] = outside, outside
    return mx.astype(np.float32), my.astype(np.float32), inside


@dataclass(frozen=True, eq=False)
class SectorMap:
    """Precomputed polar-to-Cartesian lookup of a phased-array sector (build with ``fit``).

    Polar data is (n_samples, n_beams): sample i at depth ``start_mm + i * (depth_mm -
    start_mm) / (n_samples - 1)`` on beam j at angle ``-angle/2 + j * angle / (n_beams - 1)``
    (negative to the image left). The output (H, W) = ``shape`` has square pixels of
    ``spacing_mm``, the sector apex at ``apex_px`` (x, y) px. ``map_x``/``map_y``: (H, W)
    float32 beam and sample index of each output pixel, -1 outside the sector; ``inside``:
    (H, W) bool. Device copies of the gather tables are cached per library and device.
    """

    n_samples: int
    n_beams: int
    depth_mm: float
    angle_deg: float
    shape: tuple[int, int]
    spacing_mm: float
    apex_px: tuple[float, float]
    start_mm: float
    map_x: npt.NDArray[np.float32] = field(repr=False)
    map_y: npt.NDArray[np.float32] = field(repr=False)
    inside: npt.NDArray[np.bool_] = field(repr=False)
    _tables: dict[str, tuple[Array, ...]] = field(default_factory=dict, repr=False)

    @staticmethod
    def fit(
        n_samples: int,
        n_beams: int,
        depth_mm: float,
        angle_deg: float,
        shape: tuple[int, int],
        *,
        start_mm: float = 0.0,
    ) -> SectorMap:
        """The sector scaled to fit ``shape`` (H, W): apex at the top centre, full depth and
        full width shown, square pixels."""
        h, w = shape
        if n_samples < 2 or n_beams < 2 or h < 2 or w < 2:
            raise ValueError(f"bad scan conversion size: polar {n_samples}x{n_beams}, out {shape}")
        if not 0.0 < angle_deg < 180.0 or not 0.0 <= start_mm < depth_mm:
            raise ValueError(f"bad sector: angle {angle_deg} deg, depth {start_mm}..{depth_mm} mm")
        half = math.radians(angle_deg) / 2
        sp = max(depth_mm / (h - 1), 2 * depth_mm * math.sin(half) / (w - 1))
        apex = ((w - 1) / 2.0, 0.0)
        mx, my, inside = sector_lookup(
            (h, w), sp, apex, n_samples=n_samples, n_beams=n_beams, depth_mm=depth_mm,
            angle_deg=angle_deg, start_mm=start_mm,
        )  # fmt: skip
        return SectorMap(
            n_samples, n_beams, depth_mm, angle_deg, (h, w), sp, apex, start_mm, mx, my, inside
        )

    def tables(self, like: Array) -> tuple[Array, ...]:
        """Gather tables on ``like``'s library and device: four flat (H*W,) int64 indices,
        four (H*W,) float32 bilinear weights and the (H*W,) bool inside mask."""
        xp = aac.array_namespace(like)
        key = f"{xp.__name__}:{aac.device(like)}"
        if key not in self._tables:
            inside = self.inside.ravel()
            mx, my = np.clip(self.map_x.ravel(), 0, None), np.clip(self.map_y.ravel(), 0, None)
            j0 = np.minimum(np.floor(mx).astype(np.int64), self.n_beams - 2)
            i0 = np.minimum(np.floor(my).astype(np.int64), self.n_samples - 2)
            fx, fy = (mx - j0).astype(np.float32), (my - i0).astype(np.float32)
            base = i0 * self.n_beams + j0
            idx = (base, base + 1, base + self.n_beams, base + self.n_beams + 1)
            wts = ((1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx)
            dev = aac.device(like)
            self._tables[key] = tuple(
                xp.asarray(np.ascontiguousarray(a), device=dev) for a in (*idx, *wts, inside)
            )
        return self._tables[key]


def scan_convert(polar: Array, smap: SectorMap, *, fill: float = 0.0) -> Array:
    """Bilinear scan conversion of ``polar`` (..., n_samples, n_beams) to (..., H, W).

    Same library, device and dtype as ``polar`` (integers rounded); ``fill`` outside the sector.
    2D numpy arrays of uint8, uint16, int16 or float32 go through ``cv2.remap`` (8- and 16-bit
    data with OpenCV's 1/32-px fixed-point weights); everything else through the array-API
    gather (``take`` with the map's cached tables), one code path for CuPy and torch.
    """
    if tuple(polar.shape[-2:]) != (smap.n_samples, smap.n_beams):
        raise ValueError(
            f"polar data is {tuple(polar.shape[-2:])}; the map needs "
            f"(n_samples, n_beams) = ({smap.n_samples}, {smap.n_beams})"
        )
    if isinstance(polar, np.ndarray) and polar.ndim == 2 and polar.dtype in _REMAP_DTYPES:
        out = cv2.remap(
            polar, smap.map_x, smap.map_y, cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=fill,
        )  # fmt: skip
        out[~smap.inside] = fill
        return out
    return _scan_convert_gather(polar, smap, fill)


def _scan_convert_gather(polar: Array, smap: SectorMap, fill: float) -> Array:
    """The array-API path of :func:`scan_convert` (any library, any leading dimensions)."""
    xp = aac.array_namespace(polar)
    *idx, w00, w01, w10, w11, inside = smap.tables(polar)
    lead = tuple(polar.shape[:-2])
    flat = xp.reshape(xp.astype(polar, xp.float32), (*lead, smap.n_samples * smap.n_beams))
    acc = None
    for i, w in zip(idx, (w00, w01, w10, w11), strict=True):
        term = xp.take(flat, i, axis=-1) * w
        acc = term if acc is None else acc + term
    out = xp.where(inside, acc, xp.asarray(fill, dtype=xp.float32, device=aac.device(polar)))
    if polar.dtype == xp.bool:
        out = out >= 0.5
    elif xp.isdtype(polar.dtype, "integral"):
        info = xp.iinfo(polar.dtype)
        out = xp.clip(xp.round(out), float(info.min), float(info.max))
    return xp.reshape(xp.astype(out, polar.dtype), (*lead, *smap.shape))
