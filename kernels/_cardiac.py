"""LV measurements on one apical-view frame: area, long axis and volume (discs, area-length).

Input is a (H, W) LV-cavity mask (nonzero = cavity) and the pixel spacing (row, col) in mm;
only the mask's largest 8-connected component counts (stray blobs of a model are dropped).
All geometry is computed in mm, so non-square pixels are fine.

Landmarks (:func:`lv_landmarks`), from the cavity mask alone:

1. Principal axis of the cavity (second moments of the pixel centres). The LV apex tapers and
   the base is cut by the mitral annulus, so the end whose terminal 15 % of the length holds
   clearly more of the cavity (twice as much) is the base. When neither end does and the axis
   is within 60 deg of the image's vertical, the upper end is the apex: in an apical view the
   transducer, and so the apex, is at the top. (The width rule alone put the apex at the base
   of 88 of the 1,600 CAMUS train expert masks, a bulbous apex or a narrow base; the wider
   end held at most 1.9 times the other's pixels in all 88.)
2. Mitral annulus hinge points: on each side of the axis, the cavity point farthest in the
   direction halfway between "toward the base" and "outward" (45 deg). On a cavity cut flat by
   the annulus plane these are the two basal corners; on a rounded base they are the
   shoulders where the base turns into the walls.
3. Apex: the cavity point farthest from the annulus midpoint. Long axis L: midpoint to apex.

Method of discs (ASE/EACVI 2015, single plane): the cavity between the annulus line and the
apex is cut into ``n_discs`` slabs perpendicular to the long axis, each ``L / n_discs`` thick;
a slab's diameter d_i is its area divided by its thickness (the mean chord, measured by
counting sub-pixel samples), and V = sum(pi / 4 * d_i**2 * L / n_discs). Cavity beyond the
annulus line (into the atrium) is not counted. Area-length: V = 8 A**2 / (3 pi L).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._prepost import largest_component

if TYPE_CHECKING:
    from ._plausibility import Plausibility

F64 = npt.NDArray[np.float64]
Spacing = tuple[float, float]
"""(row, column) pixel spacing in mm."""
_BASE_FRACTION = 0.15  # terminal fraction of the length compared to tell base from apex
_WIDER_END = 2.0  # the base's band holds this many times the apex's pixels, or more
_UPRIGHT_COS = 0.5  # an axis within 60 deg of the image vertical has its apex at the top
_MAX_SAMPLES = 2_000_000  # sub-pixel samples for the disc slabs (caps the cost on big masks)


@dataclass(frozen=True)
class LVLandmarks:
    """Landmarks of one LV cavity, in pixels (x = column, y = row) and mm.

    ``annulus_px``: the two mitral hinge points; ``apex_px``; ``mid_px``: annulus midpoint;
    ``length_mm``: long axis (midpoint to apex); ``annulus_mm``: hinge-to-hinge distance.
    """

    annulus_px: tuple[tuple[float, float], tuple[float, float]]
    apex_px: tuple[float, float]
    mid_px: tuple[float, float]
    length_mm: float
    annulus_mm: float

    def to_json(self) -> dict[str, Any]:
        return {
            "annulus_px": [[round(v, 2) for v in p] for p in self.annulus_px],
            "apex_px": [round(v, 2) for v in self.apex_px],
            "length_mm": round(self.length_mm, 2),
            "annulus_mm": round(self.annulus_mm, 2),
        }


def _spacing(spacing_mm: float | Spacing) -> Spacing:
    sp = (spacing_mm, spacing_mm) if isinstance(spacing_mm, int | float) else spacing_mm
    row, col = float(sp[0]), float(sp[1])
    if not (row > 0 and col > 0 and math.isfinite(row) and math.isfinite(col)):
        raise ValueError(f"spacing_mm must be positive (row, col) mm; got {spacing_mm}")
    return row, col


def _cavity(mask: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if mask.ndim != 2:
        raise ValueError(f"an LV mask is (H, W); got shape {mask.shape}")
    out: npt.NDArray[np.bool_] = largest_component(np.asarray(mask))
    return out


def lv_area_mm2(mask: npt.NDArray[Any], spacing_mm: float | Spacing) -> float:
    """Area (mm^2) of the largest component of a (H, W) LV mask; 0.0 when it is empty."""
    row, col = _spacing(spacing_mm)
    return float(np.count_nonzero(_cavity(mask))) * row * col


def lv_landmarks(mask: npt.NDArray[Any], spacing_mm: float | Spacing) -> LVLandmarks | None:
    """Mitral hinge points, apex and long axis of a (H, W) LV mask (see the module doc);
    None when the mask has fewer than 10 pixels."""
    sp = _spacing(spacing_mm)
    cav = _cavity(mask)
    return _landmarks(cav, sp)


def _landmarks(cav: npt.NDArray[np.bool_], sp: Spacing) -> LVLandmarks | None:
    rows, cols = np.nonzero(cav)
    if rows.size < 10:
        return None
    pts = np.stack([cols * sp[1], rows * sp[0]], axis=1).astype(np.float64)  # (n, 2) mm
    centre = pts.mean(axis=0)
    d = pts - centre
    evals, evecs = np.linalg.eigh(d.T @ d)
    u = evecs[:, int(np.argmax(evals))]  # major axis, unit
    s = d @ u
    lo, hi = float(s.min()), float(s.max())
    band = _BASE_FRACTION * (hi - lo)
    at_hi, at_lo = np.count_nonzero(s > hi - band), np.count_nonzero(s < lo + band)
    decided = max(at_hi, at_lo) >= _WIDER_END * min(at_hi, at_lo)
    upright = not decided and abs(u[1]) >= _UPRIGHT_COS  # then the apex is the upper end
    flip = bool(u[1] > 0) if upright else bool(at_hi > at_lo)
    if flip:
        u, s = -u, -s  # u points from the base toward the apex
    v = np.array([-u[1], u[0]])
    t = d @ v
    hinges = []
    for side in (1.0, -1.0):
        score = -s + side * t
        cand = np.flatnonzero(side * t >= 0)
        if cand.size == 0:
            cand = np.arange(s.size)
        hinges.append(pts[cand[int(np.argmax(score[cand]))]])
    mid = 0.5 * (hinges[0] + hinges[1])
    apex = pts[int(np.argmax(np.sum((pts - mid) ** 2, axis=1)))]
    length = float(np.linalg.norm(apex - mid))
    if length <= 0:
        return None

    def px(p: F64) -> tuple[float, float]:
        return float(p[0] / sp[1]), float(p[1] / sp[0])

    return LVLandmarks(
        (px(hinges[0]), px(hinges[1])),
        px(apex),
        px(mid),
        length,
        float(np.linalg.norm(hinges[0] - hinges[1])),
    )


def lv_volume_discs_ml(
    mask: npt.NDArray[Any], spacing_mm: float | Spacing, n_discs: int = 20
) -> float:
    """Single-plane method-of-discs LV volume (ml) of a (H, W) cavity mask; 0.0 when empty.

    ``n_discs``: 20 as the ASE recommends. See the module doc for the landmarks and slabs.
    """
    sp = _spacing(spacing_mm)
    cav = _cavity(mask)
    lm = _landmarks(cav, sp)
    return 0.0 if lm is None else _discs_ml(cav, sp, lm, n_discs)


def _discs_ml(cav: npt.NDArray[np.bool_], sp: Spacing, lm: LVLandmarks, n_discs: int) -> float:
    if n_discs < 1:
        raise ValueError(f"n_discs must be >= 1; got {n_discs}")
    rows, cols = np.nonzero(cav)
    k = int(max(1, min(4, math.sqrt(_MAX_SAMPLES / max(rows.size, 1)))))
    offs = (np.arange(k) + 0.5) / k - 0.5  # k x k sub-pixel samples per pixel
    oy, ox = np.meshgrid(offs, offs, indexing="ij")
    x = ((cols[:, None] + ox.ravel()[None, :]) * sp[1]).ravel()
    y = ((rows[:, None] + oy.ravel()[None, :]) * sp[0]).ravel()
    mid = np.array([lm.mid_px[0] * sp[1], lm.mid_px[1] * sp[0]])
    apex = np.array([lm.apex_px[0] * sp[1], lm.apex_px[1] * sp[0]])
    axis = (apex - mid) / lm.length_mm
    along = (x - mid[0]) * axis[0] + (y - mid[1]) * axis[1]  # mm from the annulus line
    h = lm.length_mm / n_discs
    slab = np.floor(along / h).astype(np.int64)
    keep = (slab >= 0) & (slab < n_discs)
    area = np.bincount(slab[keep], minlength=n_discs) * (sp[0] * sp[1] / (k * k))  # mm^2
    diam = area / h
    return float(np.sum(math.pi / 4.0 * diam**2 * h) / 1000.0)


def lv_volume_area_length_ml(area_mm2: float, length_mm: float) -> float:
    """Area-length LV volume (ml) from the cavity area (mm^2) and long axis (mm):
    V = 8 A^2 / (3 pi L) (a prolate ellipsoid whose long-axis section has area A)."""
    if area_mm2 < 0 or not length_mm > 0:
        raise ValueError(f"need area >= 0 mm^2 and length > 0 mm; got {area_mm2}, {length_mm}")
    return 8.0 * area_mm2**2 / (3.0 * math.pi * length_mm) / 1000.0


def mask_confidence(probs: npt.NDArray[Any], mask: npt.NDArray[Any], axis: int = 0) -> float:
    """Mean max-softmax probability over the pixels of ``mask`` (H, W), from class
    probabilities ``probs`` (C, H, W) float (class ``axis``); nan when the mask is empty."""
    m = np.asarray(mask) != 0
    if not m.any():
        return math.nan
    top = np.max(np.asarray(probs, np.float64), axis=axis)
    if top.shape != m.shape:
        raise ValueError(f"probabilities {probs.shape} do not match the mask {mask.shape}")
    return float(top[m].mean())


@dataclass(frozen=True)
class FrameMeasurement:
    """LV measurements on one frame (mm, mm^2, ml; nan when the LV was not found).

    ``confidence``: in [0, 1], the caller's (``segment_images_scored``) or the mean
    max-softmax over the cavity (nan without either);
    ``flags``: quality flags, a subset of "lv_not_found", "low_confidence", "foreshortened";
    ``plausibility``: the anatomical checks' verdict on the frame's segmentation
    (:func:`orstream.kernels.lv_plausibility`), None when the caller had none.
    """

    index: int
    t_s: float
    area_mm2: float
    volume_discs_ml: float
    volume_al_ml: float
    length_mm: float
    confidence: float
    landmarks: LVLandmarks | None
    flags: tuple[str, ...] = ()
    plausibility: Plausibility | None = None

    @property
    def found(self) -> bool:
        return self.landmarks is not None

    def to_json(self) -> dict[str, Any]:
        def num(v: float, nd: int) -> float | None:
            return None if not math.isfinite(v) else round(v, nd)

        return {
            "index": self.index,
            "t_s": round(self.t_s, 4),
            "area_mm2": num(self.area_mm2, 1),
            "volume_discs_ml": num(self.volume_discs_ml, 2),
            "volume_al_ml": num(self.volume_al_ml, 2),
            "length_mm": num(self.length_mm, 2),
            "confidence": num(self.confidence, 3),
            "landmarks": None if self.landmarks is None else self.landmarks.to_json(),
            "flags": list(self.flags),
            "plausible": None if self.plausibility is None else self.plausibility.ok,
            "implausible": [] if self.plausibility is None else list(self.plausibility.failed),
        }


def measure_frame(
    mask: npt.NDArray[Any],
    spacing_mm: float | Spacing,
    *,
    index: int = 0,
    t_s: float = 0.0,
    probs: npt.NDArray[Any] | None = None,
    n_discs: int = 20,
    min_confidence: float = 0.7,
    edge_px: int = 1,
    confidence: float | None = None,
    plausibility: Plausibility | None = None,
) -> FrameMeasurement:
    """All per-frame LV measurements of a (H, W) cavity mask.

    ``probs``: optional (C, H, W) class probabilities of the model (for the confidence);
    ``confidence``: the frame's confidence in [0, 1] when the caller has it (e.g.
    ``orstream.kernels.segment_images_scored``), used instead of ``probs``;
    ``min_confidence``: below it the frame is flagged "low_confidence"; ``edge_px``: an apex
    within this many pixels of the image border flags "foreshortened" (the apex is cut off);
    ``plausibility``: the verdict of :func:`orstream.kernels.lv_plausibility` on the frame's
    class-index mask, carried into the result.
    The clip-level check (long axis much shorter than the clip's longest) is in
    :func:`orstream.kernels.summarize_clip`.
    """
    sp = _spacing(spacing_mm)
    cav = _cavity(mask)
    if confidence is not None:
        conf = float(confidence)
    else:
        conf = math.nan if probs is None else mask_confidence(probs, cav)
    flags: list[str] = []
    if math.isfinite(conf) and conf < min_confidence:
        flags.append("low_confidence")
    lm = _landmarks(cav, sp)
    if lm is None:
        nan = math.nan
        return FrameMeasurement(
            index, t_s, nan, nan, nan, nan, conf, None, ("lv_not_found",), plausibility
        )
    area = float(np.count_nonzero(cav)) * sp[0] * sp[1]
    ax, ay = lm.apex_px
    h, w = cav.shape
    if min(ax, ay, w - 1 - ax, h - 1 - ay) < edge_px:
        flags.append("foreshortened")
    return FrameMeasurement(
        index,
        t_s,
        area,
        _discs_ml(cav, sp, lm, n_discs),
        lv_volume_area_length_ml(area, lm.length_mm),
        lm.length_mm,
        conf,
        lm,
        tuple(flags),
        plausibility,
    )
