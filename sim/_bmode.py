"""B-mode image formation in beam space, and scan conversion: reusable by any array geometry.

Beam space is an (N samples along the beam, M beams) raster: for a phased array, sample i lies
at depth ``i * dr`` on the beam at angle ``theta_j``; for a linear array, at depth ``i * dr`` on
the beam at lateral position ``x_j``. The pipeline per frame is::

    i, q = SpeckleAtlas.sample(u, v, w)        # (N, M) I and Q scatterers at material points
    i, q = i * amplitude * gain + clutter_i + noise_i, ...     # echogenicity, TGC, additions
    env = envelope(i, q, sigma_axial, sigma_lateral)           # PSF blur + |I + jQ|
    img = log_compress(env, gain_db, dynamic_range_db)         # (N, M) uint8
    out = scan_convert(img, geometry)                          # (H, W) uint8

Blurring in beam space gives a lateral resolution fixed in beam units, i.e. growing with depth
in mm for a sector, as a phased array's does. All arrays are C-contiguous float32 unless noted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ..kernels import sector_lookup

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class SectorGeometry:
    """A phased-array sector (virtual apex at the transducer) and its output raster.

    ``depth_mm``: imaging depth; ``angle_deg``: full sector width; ``n_samples`` x ``n_beams``:
    beam-space raster; ``shape``: output (H, W); ``spacing_mm``: square output pixel size;
    ``apex_px``: (x, y) of the sector apex in output pixels (column, row).
    """

    depth_mm: float
    angle_deg: float
    n_samples: int
    n_beams: int
    shape: tuple[int, int]
    spacing_mm: float
    apex_px: tuple[float, float]

    @staticmethod
    def fit(
        depth_mm: float,
        angle_deg: float,
        shape: tuple[int, int],
        *,
        n_samples: int,
        n_beams: int,
        max_crop: float = 0.2,
    ) -> SectorGeometry:
        """The sector scaled into ``shape``, apex at the top centre, full depth shown and at most
        ``max_crop`` of the widest chord cut off by the sides (as on many echo displays)."""
        h, w = shape
        if h < 16 or w < 16 or not 10.0 <= angle_deg <= 120.0 or depth_mm <= 0:
            raise ValueError(f"bad sector: shape {shape}, angle {angle_deg} deg, depth {depth_mm}")
        half = math.radians(angle_deg / 2)
        chord = 2 * depth_mm * (math.sin(half) if half < math.pi / 2 else 1.0)
        top = 1.0
        sp = max(depth_mm / (h - 1 - top), chord / (w - 1) / (1.0 + max_crop))
        return SectorGeometry(
            depth_mm, angle_deg, n_samples, n_beams, shape, sp, ((w - 1) / 2.0, top)
        )

    @property
    def sample_mm(self) -> float:
        """Beam-space sample spacing along the beam (mm)."""
        return self.depth_mm / (self.n_samples - 1)

    def depths_mm(self) -> F32:
        """(N,) depth of each beam-space sample."""
        return np.linspace(0.0, self.depth_mm, self.n_samples, dtype=np.float32)

    def angles_rad(self) -> F32:
        """(M,) steering angle of each beam, negative to the left of the image."""
        half = math.radians(self.angle_deg) / 2
        return np.linspace(-half, half, self.n_beams, dtype=np.float32)

    @cached_property
    def _maps(self) -> tuple[F32, F32, npt.NDArray[np.bool_]]:
        return sector_lookup(
            self.shape, self.spacing_mm, self.apex_px, n_samples=self.n_samples,
            n_beams=self.n_beams, depth_mm=self.depth_mm, angle_deg=self.angle_deg, outside=-10.0,
        )  # fmt: skip

    def maps(self) -> tuple[F32, F32]:
        """(map_x, map_y): (H, W) float32 beam/sample indices for ``cv2.remap``; -10 outside."""
        return self._maps[0], self._maps[1]

    def inside(self) -> npt.NDArray[np.bool_]:
        """(H, W) bool: pixels inside the sector."""
        return self._maps[2]

    def to_json(self) -> dict[str, Any]:
        """Wire-protocol geometry object (``apex_px`` is [x, y] in pixels)."""
        return {
            "kind": "sector",
            "apex_px": [self.apex_px[0], self.apex_px[1]],
            "angle_deg": self.angle_deg,
            "depth_mm": self.depth_mm,
            "spacing_mm": [self.spacing_mm, self.spacing_mm],
        }


def scan_convert(
    beam: npt.NDArray[Any], geometry: SectorGeometry, *, nearest: bool = False
) -> npt.NDArray[Any]:
    """(N, M) beam-space image -> (H, W) sector image (0 outside); bilinear or nearest."""
    mx, my = geometry.maps()
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    out: npt.NDArray[Any] = cv2.remap(
        beam, mx, my, interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out


class SpeckleAtlas:
    """A 3D complex (I/Q) scatterer field in material coordinates, looked up trilinearly.

    The volume u in ``u_range``, v in ``v_range`` (mm, in-plane) x w in ``w_range`` (mm,
    out-of-plane) is stored as slabs of a 2D atlas, one every ``slab_mm`` along w, each a
    ``cell_mm`` lattice of circular complex Gaussian scatterers modulated by a smooth echogenicity
    variation (relative std ``modulation`` at ``modulation_mm`` scale). Sampling tissue at the
    material point of each beam sample makes the speckle move with the tissue; sampling blood at
    a point shifted anew each frame decorrelates it.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        u_range: tuple[float, float],
        v_range: tuple[float, float],
        w_range: tuple[float, float],
        *,
        cell_mm: float,
        slab_mm: float,
        modulation: float = 0.25,
        modulation_mm: float = 6.0,
    ) -> None:
        self.cell, self.slab = float(cell_mm), float(slab_mm)
        self.u0, self.v0, self.w0 = u_range[0], v_range[0], w_range[0]
        nu = math.ceil((u_range[1] - u_range[0]) / cell_mm) + 2
        nv = math.ceil((v_range[1] - v_range[0]) / cell_mm) + 2
        self.k = max(2, math.ceil((w_range[1] - w_range[0]) / slab_mm) + 1)
        self.pad = 4
        self.stride = nv + 2 * self.pad
        atlas = rng.standard_normal((self.k * self.stride, nu, 2), dtype=np.float32)
        atlas *= np.float32(math.sqrt(0.5))
        if modulation > 0:
            low = rng.standard_normal((self.k * self.stride, nu), dtype=np.float32)
            sig = modulation_mm / cell_mm
            smooth = np.asarray(cv2.GaussianBlur(low, (0, 0), sig), np.float32)
            smooth *= np.float32(modulation / max(float(smooth.std()), 1e-6))
            atlas *= np.clip(1.0 + smooth, 0.2, None)[..., None]
        # Adjacent slabs side by side in 4 channels: one remap gives both trilinear layers.
        slabs = atlas.reshape(self.k, self.stride, nu, 2)
        self.atlas = np.ascontiguousarray(
            np.concatenate([slabs[:-1], slabs[1:]], axis=3).reshape(-1, nu, 4)
        )

    def scale(self, factor: float) -> None:
        """Multiply every scatterer amplitude by ``factor`` (e.g. to normalise after a PSF)."""
        self.atlas *= np.float32(factor)

    def sample(self, u: F32, v: F32, w: F32) -> tuple[F32, F32]:
        """(I, Q): (N, M) float32 scatterer amplitudes (unit mean power) at material points
        ``u, v, w`` (N, M) mm. Points outside the ranges are clamped to the border (u, v) or
        the nearest slab (w)."""
        inv = np.float32(1.0 / self.cell)
        mx = u - np.float32(self.u0)
        mx *= inv
        my = v - np.float32(self.v0 - self.pad * self.cell)
        my *= inv
        s = w - np.float32(self.w0)
        s *= np.float32(1.0 / self.slab)
        np.clip(s, 0.0, self.k - 1.001, out=s)
        k = np.floor(s)
        s -= k
        k *= np.float32(self.stride)
        my += k
        t = cv2.remap(self.atlas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        i0, q0, i1, q1 = (np.asarray(c, np.float32) for c in cv2.split(t))
        i1 -= i0
        i1 *= s
        i1 += i0
        q1 -= q0
        q1 *= s
        q1 += q0
        return i1, q1


def envelope(i: F32, q: F32, sigma_axial: float, sigma_lateral: float) -> F32:
    """(N, M) I and Q planes -> (N, M) envelope after a separable Gaussian PSF (sigmas in beam
    samples along the beam and in beams across; kernels cut at 2.5 sigma)."""
    ksize = (2 * round(2.5 * sigma_lateral) + 1, 2 * round(2.5 * sigma_axial) + 1)
    bi = cv2.GaussianBlur(i, ksize, sigmaX=sigma_lateral, sigmaY=sigma_axial)
    bq = cv2.GaussianBlur(q, ksize, sigmaX=sigma_lateral, sigmaY=sigma_axial)
    return np.asarray(cv2.magnitude(bi, bq), np.float32)


def log_compress(env: F32, gain_db: float, dynamic_range_db: float) -> U8:
    """(N, M) envelope -> uint8: 20 log10(env) + gain_db mapped from [-DR, 0] dB to [0, 255]."""
    alpha = 20.0 / math.log(10.0) * 255.0 / dynamic_range_db
    beta = (gain_db + dynamic_range_db) * 255.0 / dynamic_range_db
    db = np.asarray(cv2.log(np.maximum(env, np.float32(1e-6))), np.float32)
    db *= np.float32(alpha)
    db += np.float32(beta)
    np.maximum(db, np.float32(0.0), out=db)
    return np.asarray(cv2.convertScaleAbs(db), np.uint8)


def depth_gain(depths_mm: F32, atten_db_cm: float, tgc_db: F32 | None = None) -> tuple[F32, F32]:
    """(signal, noise) amplitude gains per depth, (N,) each.

    Two-way attenuation of ``atten_db_cm`` (one-way, dB/cm at the centre frequency) is
    compensated by time-gain control, imperfectly by the residual ``tgc_db`` (N,) (user sliders,
    near-field suppression); receiver noise is amplified by the full TGC, so it rises with depth
    (noise gain is 1 at the deepest sample).
    """
    cm = depths_mm.astype(np.float64) / 10.0
    tgc = 2.0 * atten_db_cm * cm
    resid = np.zeros_like(cm) if tgc_db is None else tgc_db.astype(np.float64)
    signal = 10.0 ** (resid / 20.0)
    noise = 10.0 ** ((tgc + resid - tgc[-1] - resid[-1]) / 20.0)
    return signal.astype(np.float32), noise.astype(np.float32)
