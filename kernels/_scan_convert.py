"""Scan conversion of phased-array sector data (polar, beam space) to a Cartesian image.

:class:`SectorMap` precomputes the lookup once; :func:`scan_convert` applies it to numpy
(``cv2.remap``), CuPy or torch arrays (array-API gathers), on the array's own device.
:func:`sector_lookup` is the one sector geometry shared with the simulators' B-mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import array_api_compat as aac
import cv2
import numpy as np
import numpy.typing as npt

from ._arrays import Array

_REMAP_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)


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
