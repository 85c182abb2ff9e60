"""Rasterise an :class:`~sim._us_anatomy.Anatomy` onto a tissue-fixed canvas (numpy + OpenCV).

The canvas is the image grid widened by ``pad_px`` columns on each side, so that lateral probe
motion can slide the image over tissue that keeps its speckle. Maps are (rows, cols) float32:
``diffuse`` (scattering echogenicity, multiplied by speckle), ``specular`` (fascia, nerve rims,
bone surface: coherent reflectors, less speckled), ``atten`` (round-trip attenuation, nepers per
pixel of depth) and ``labels`` (uint8: 1 nerve). Vessels are not drawn here: their lumens change
every frame (pulsation, compression), see :func:`vessel_frame`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from ._us_anatomy import Anatomy, Nerve, Vessel
from ._us_bmode import DB_PER_NEPER, smooth_curve

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
B = npt.NDArray[np.bool_]


EDGE_SHADOW_NP = 0.025
"""Extra attenuation of a vessel's lateral wall, nepers per pixel (edge-shadow artefact)."""
BLOOD_ATTEN_DROP = 0.6
"""Fraction of the tissue attenuation that blood lacks (posterior acoustic enhancement)."""


@dataclass(frozen=True, slots=True)
class Canvas:
    """Tissue grid: ``rows`` x ``cols`` pixels of ``spacing_mm``; image column 0 is canvas column
    ``pad_px``. Pixel (r, c) has its centre at x = (c - pad_px + 0.5) * spacing_mm,
    y = (r + 0.5) * spacing_mm (image mm)."""

    rows: int
    cols: int
    pad_px: int
    spacing_mm: float

    def col(self, x_mm: float) -> float:
        return x_mm / self.spacing_mm - 0.5 + self.pad_px

    def row(self, y_mm: float) -> float:
        return y_mm / self.spacing_mm - 0.5

    def x_mm(self) -> npt.NDArray[np.float64]:
        """Lateral position of each canvas column's centre, (cols,) float64 mm."""
        return (np.arange(self.cols, dtype=np.float64) - self.pad_px + 0.5) * self.spacing_mm


@dataclass(frozen=True, slots=True)
class VesselPatch:
    """A vessel's bounding box on the canvas (rows r0:r1, cols c0:c1) with its elliptical
    coordinates ``u`` (lateral / a) and ``v`` (axial / b), and the static attenuation there."""

    vessel: Vessel
    r0: int
    r1: int
    c0: int
    c1: int
    u: F32
    v: F32
    atten: F32
    edge: float
    """Lumen edge width in units of the semi-axis (about 0.7 px)."""
    wall_w: float
    """Wall thickness in units of the semi-axis."""
    blur_px: float
    """Lateral smoothing of the attenuation change (beam width), px."""


@dataclass(frozen=True, slots=True)
class TissueMaps:
    diffuse: F32
    specular: F32
    atten: F32
    labels: U8
    vessels: tuple[VesselPatch, ...]


def _field(rng: np.random.Generator, shape: tuple[int, int], sx: float, sy: float) -> F32:
    """Gaussian random field, unit standard deviation, correlation sigmas (sx, sy) px."""
    z = rng.standard_normal(shape, dtype=np.float32)
    n = np.asarray(
        cv2.GaussianBlur(
            z, (0, 0), sigmaX=max(sx, 0.3), sigmaY=max(sy, 0.3), borderType=cv2.BORDER_REFLECT
        ),
        np.float32,
    )
    n -= float(n.mean())
    n *= 1.0 / max(float(n.std()), 1e-6)
    return np.asarray(n, dtype=np.float32)


def _tilt(rng: np.random.Generator, f: F32, deg: float, wave_px: float) -> F32:
    """Shear a field so that its horizontal streaks slope by ``deg`` degrees, and bend them by
    a smooth random vertical displacement of about ``wave_px`` pixels (wavy fibres)."""
    rows, cols = f.shape
    k = math.tan(math.radians(deg))
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    bend = _field(rng, (rows, cols), 25.0, 15.0) * np.float32(wave_px)
    map_y = yy + np.float32(k) * (xx - np.float32(cols / 2)) + bend
    out = cv2.remap(f, xx, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.asarray(out, dtype=np.float32)


def _line(rows: F32, y: npt.NDArray[np.float64], amp: npt.NDArray[np.float64], w: float) -> F32:
    """A specular line: ``amp[c] * exp(-((row - y[c]) / w)^2)`` on a (rows, cols) grid."""
    d = (rows - y.astype(np.float32)[None, :]) / np.float32(w)
    return np.asarray(amp.astype(np.float32)[None, :] * np.exp(-d * d), dtype=np.float32)


def _breaks(rng: np.random.Generator, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Brightness along a fascia line, 0-1, with gaps and speckle-like variation."""
    s = smooth_curve(rng, x, 1.0, 4) + rng.uniform(-0.2, 0.6)
    return np.clip(0.35 + s, 0.0, 1.0) ** 1.5


def _septa(
    rng: np.random.Generator,
    spec: F32,
    x: npt.NDArray[np.float64],
    *,
    span: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    n: int,
    amp: tuple[float, float],
    half_mm: tuple[float, float],
) -> None:
    """Add ``n`` partial bright curves (septa) between the rows ``span`` = (top, bottom) per
    column; amplitude drawn in ``amp``, half-length in ``half_mm`` (mm)."""
    sp = float(x[1] - x[0])
    rows = np.arange(spec.shape[0], dtype=np.float32)[:, None]
    top = np.maximum(span[0], 0.0)
    for _ in range(n):
        y_s = top + rng.uniform(0.15, 0.85) * (np.minimum(span[1], spec.shape[0]) - top)
        y_s = y_s + smooth_curve(rng, x, rng.uniform(0.2, 1.2), 2, (15.0, 60.0)) / sp
        y_s = y_s + math.tan(math.radians(rng.uniform(-7, 7))) * (x - x.mean()) / sp
        xc, half = rng.uniform(x[0], x[-1]), rng.uniform(*half_mm)
        taper = np.clip(1.0 - ((x - xc) / half) ** 2, 0.0, 1.0)
        a = rng.uniform(*amp) * taper * _breaks(rng, x)
        spec += _line(rows, y_s, a, rng.uniform(0.12, 0.4) / sp)


def _layers(
    rng: np.random.Generator, an: Anatomy, cv: Canvas, atten_np_px: float
) -> tuple[F32, F32, F32]:
    shape = (cv.rows, cv.cols)
    sp = cv.spacing_mm
    x = cv.x_mm()
    rows = np.arange(cv.rows, dtype=np.float32)[:, None]
    diffuse = np.zeros(shape, np.float32)
    spec = np.zeros(shape, np.float32)
    atten = np.zeros(shape, np.float32)
    prev_row = np.full(cv.cols, -1.0)
    prev_top = np.zeros((1, cv.cols))
    lowfreq = np.exp(
        0.3 * _field(rng, shape, 5.0 / sp, 3.0 / sp) + 0.3 * _field(rng, shape, 12.0 / sp, 6.0 / sp)
    )
    for layer in an.layers:
        y = (
            layer.bottom_mm
            + layer.wave_mm * smooth_curve(rng, x, 1.0, 3, (25.0, 120.0))
            + math.tan(math.radians(layer.tilt_deg)) * (x - x.mean())
        )
        bottom = np.maximum(y / sp - 0.5, prev_row + 0.8 / sp)
        inside = (rows > prev_row[None, :]) & (rows <= bottom[None, :])
        g = _field(rng, shape, 3.0, 1.0)
        if layer.name == "fat":  # hypoechoic lobules separated by thin bright septa
            s = rng.uniform(1.2, 2.6) / sp
            f = _tilt(rng, _field(rng, shape, 2.5 * s, 0.5 * s), layer.texture_tilt_deg, 3.0)
            streak = 5.0 * np.exp(-((f / 0.1) ** 2)) * np.clip(g + 0.5, 0.0, 1.5)
        elif layer.name == "skin":
            streak = np.zeros(shape, np.float32)
        else:  # muscle: striations (perimysium) along the fibres, "starry" bright dots
            f = _field(rng, shape, rng.uniform(0.5, 1.6) / sp, 0.6)
            f = _tilt(rng, f, layer.texture_tilt_deg, rng.uniform(1.0, 6.0))
            thr = rng.uniform(1.3, 2.0)
            streak = 14.0 * np.maximum(f - thr, 0.0) + 4.0 * np.maximum(g - 2.0, 0.0)
        val = layer.echo * lowfreq * np.exp(0.3 * g)
        np.copyto(diffuse, val.astype(np.float32), where=inside)
        np.copyto(spec, (layer.echo * layer.texture * streak).astype(np.float32), where=inside)
        atten[inside] = atten_np_px * layer.atten_rel
        if layer.fascia > 0.0:
            w = rng.uniform(0.2, 0.6) / sp
            spec += _line(rows, bottom, layer.fascia * _breaks(rng, x), w)
            if rng.uniform() < 0.45:  # a second, parallel fascia line
                off = rng.uniform(0.4, 1.2) / sp
                spec += _line(rows, bottom + off, 0.6 * layer.fascia * _breaks(rng, x), w)
        if layer.name == "fat":  # superficial fascia: long lines within the fat
            n = int(rng.integers(0, 4))
            _septa(rng, spec, x, span=(prev_row, bottom), n=n, amp=(3, 15), half_mm=(4, 14))
        elif layer.name != "skin":  # intramuscular septa: partial bright curves
            n = int(rng.integers(2, 15))
            _septa(rng, spec, x, span=(prev_row, bottom), n=n, amp=(2, 15), half_mm=(1.5, 12))
        if layer.name == "fat":
            prev_top = bottom[None, :]
        prev_row = bottom
    spec += _line(rows, np.full(cv.cols, 0.3), np.full(cv.cols, rng.uniform(3.0, 10.0)), 1.0)
    below_fat = rows > prev_top
    for belly in an.bellies:
        r0, r1, c0, c1, u, v = _ellipse_coords(
            cv, belly.center_mm, belly.semi_axes_mm, belly.angle_deg, 1.0
        )
        rn = np.sqrt(u * u + v * v)
        inside = np.clip((1.0 - rn) * 8.0 + 0.5, 0.0, 1.0) * below_fat[r0:r1, c0:c1]
        diffuse[r0:r1, c0:c1] *= 1.0 + (belly.echo_rel - 1.0) * inside
        spec[r0:r1, c0:c1] *= 1.0 + (min(belly.echo_rel, 1.5) - 1.0) * inside
        theta = np.arctan2(v, u)
        brk = (
            np.clip(
                0.5
                + 0.6
                * np.cos(2.0 * theta + rng.uniform(0, 6.3))
                * np.cos(3.0 * theta + rng.uniform(0, 6.3)),
                0.0,
                1.0,
            )
            * np.clip(-np.sin(theta), 0.1, 1.0) ** 2
        )
        w = rng.uniform(0.12, 0.3) / min(belly.semi_axes_mm)
        spec[r0:r1, c0:c1] += (
            belly.border * brk * np.exp(-(((rn - 1.0) / w) ** 2)) * below_fat[r0:r1, c0:c1]
        )
    return diffuse, spec, atten


def _ellipse_coords(
    cv: Canvas,
    center_mm: tuple[float, float],
    axes_mm: tuple[float, float],
    angle: float,
    margin_mm: float,
) -> tuple[int, int, int, int, F32, F32]:
    """Bounding box (r0, r1, c0, c1) and normalised rotated coordinates (u/a, v/b) there."""
    rc, cc = cv.row(center_mm[1]), cv.col(center_mm[0])
    ext = (max(axes_mm) + margin_mm) / cv.spacing_mm + 2.0
    r0, r1 = max(int(rc - ext), 0), min(math.ceil(rc + ext) + 1, cv.rows)
    c0, c1 = max(int(cc - ext), 0), min(math.ceil(cc + ext) + 1, cv.cols)
    yy, xx = np.mgrid[r0 : max(r1, r0 + 1), c0 : max(c1, c0 + 1)].astype(np.float32)
    yy -= np.float32(rc)
    xx -= np.float32(cc)
    ca, sa = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u = (xx * ca + yy * sa) * np.float32(cv.spacing_mm / axes_mm[0])
    v = (-xx * sa + yy * ca) * np.float32(cv.spacing_mm / axes_mm[1])
    return r0, max(r1, r0 + 1), c0, max(c1, c0 + 1), u, v


def _nerve(rng: np.random.Generator, nv: Nerve, cv: Canvas, maps: tuple[F32, F32, U8]) -> None:
    diffuse, spec, labels = maps
    sp = cv.spacing_mm
    r0, r1, c0, c1, u, v = _ellipse_coords(cv, nv.center_mm, nv.semi_axes_mm, nv.angle_deg, 2.0)
    rn = np.sqrt(u * u + v * v)
    edge = 0.7 * sp / min(nv.semi_axes_mm)
    inside = np.clip((1.0 - rn) / edge + 0.5, 0.0, 1.0)
    fasc = np.zeros(u.shape, np.uint8)
    ca, sa = math.cos(math.radians(nv.angle_deg)), math.sin(math.radians(nv.angle_deg))
    for dx, dy, r in nv.fascicles:
        fx, fy = dx * ca - dy * sa, dx * sa + dy * ca
        cx, cy = cv.col(nv.center_mm[0] + fx) - c0, cv.row(nv.center_mm[1] + fy) - r0
        axes = (round(r / sp * 16), round(r / sp * 16 * rng.uniform(0.7, 1.0)))
        cv2.ellipse(
            fasc,
            (round(cx * 16), round(cy * 16)),
            axes,
            rng.uniform(0, 180),
            0,
            360,
            255,
            -1,
            cv2.LINE_AA,
            4,
        )
    f = cv2.GaussianBlur(fasc.astype(np.float32) / 255.0, (0, 0), 0.6)
    tex = 1.0 + 0.35 * _field(rng, u.shape, 1.5, 1.0)
    d = diffuse[r0:r1, c0:c1]
    local = float(np.mean(d[(rn > 1.0) & (rn < 2.0)])) if np.any(rn > 1.0) else 1.0
    inner = (local * (nv.echo * (1.0 - f) * tex + nv.fascicle_echo * f)).astype(np.float32)
    halo = 1.0 + 0.3 * np.exp(-(((rn - 1.1) / 0.2) ** 2)) * (rn > 1.0)
    d[...] = (d * halo * (1.0 - inside) + inner * inside).astype(np.float32)
    s = spec[r0:r1, c0:c1]
    w = 0.2 / min(nv.semi_axes_mm)
    theta = np.arctan2(v, u)
    axial = np.sin(theta) ** 2
    wobble = 0.6 + 0.4 * np.cos(3.0 * theta + rng.uniform(0, 6.3)) * np.cos(
        5.0 * theta + rng.uniform(0, 6.3)
    )
    rim = nv.rim * (0.3 + 0.7 * axial) * wobble * np.exp(-(((rn - 1.0) / w) ** 2))
    s[...] = s * (1.0 - inside) + rim + 1.2 * nv.rim * f * (1.0 - f) * inside
    lab = labels[r0:r1, c0:c1]
    lab[rn <= 1.0] = 1


def _bone(an: Anatomy, cv: Canvas, diffuse: F32, spec: F32, atten: F32) -> None:
    bone = an.bone
    if bone is None:
        return
    sp = cv.spacing_mm
    x = cv.x_mm()
    dx = x - bone.top_mm[0]
    ok = np.abs(dx) < min(bone.half_width_mm, 0.95 * bone.radius_mm)
    r = bone.radius_mm
    y = bone.top_mm[1] + r - np.sqrt(np.maximum(r * r - dx * dx, 0.0))
    slope = np.abs(dx) / np.sqrt(np.maximum(r * r - dx * dx, 1e-6))
    amp = np.where(ok, bone.brightness / (1.0 + slope * slope) ** 2, 0.0)
    rows = np.arange(cv.rows, dtype=np.float32)[:, None]
    yr = y / sp - 0.5
    spec += _line(rows, yr, amp, max(0.25 / sp, 0.8))
    below = (rows > yr[None, :] + 0.6 / sp) & ok[None, :]
    diffuse[below] *= 0.1
    atten[below] = 1.5


def rasterize(
    rng: np.random.Generator, an: Anatomy, cv: Canvas, atten_db_per_mm: float
) -> TissueMaps:
    """Draw ``an`` on ``cv``; ``atten_db_per_mm``: round-trip tissue attenuation, dB per mm."""
    atten_np_px = atten_db_per_mm * cv.spacing_mm / DB_PER_NEPER
    diffuse, spec, atten = _layers(rng, an, cv, atten_np_px)
    labels = np.zeros((cv.rows, cv.cols), np.uint8)
    for nv in an.nerves:
        _nerve(rng, nv, cv, (diffuse, spec, labels))
    _bone(an, cv, diffuse, spec, atten)
    patches = []
    for ves in an.vessels:
        margin = max(ves.semi_axes_mm) * (ves.pulse + 0.3) + 0.6
        r0, r1, c0, c1, u, v = _ellipse_coords(
            cv, ves.center_mm, ves.semi_axes_mm, ves.angle_deg, margin
        )
        wall_mm = 0.35 if ves.kind == "artery" else 0.2
        # no fascia or striation echoes inside the lumen at any phase of pulsation
        rn = np.sqrt(u * u + v * v) * np.float32(1.0 / (1.0 + ves.pulse))
        spec[r0:r1, c0:c1] *= np.clip((rn - 0.9) * 5.0, 0.0, 1.0)
        patches.append(
            VesselPatch(
                ves,
                r0,
                r1,
                c0,
                c1,
                u,
                v,
                atten[r0:r1, c0:c1].copy(),
                edge=0.7 * cv.spacing_mm / min(ves.semi_axes_mm),
                wall_w=wall_mm / max(ves.semi_axes_mm),
                blur_px=0.6 / cv.spacing_mm,
            )
        )
    return TissueMaps(diffuse, spec, atten, labels, tuple(patches))


def vessel_frame(p: VesselPatch, scale: float, squash: float) -> tuple[F32, F32, B]:
    """One vessel at one instant, on its patch: (amplitude factor, attenuation change in nepers
    per pixel, label mask), each of the patch's shape. ``scale`` multiplies both semi-axes
    (pulsation), ``squash`` the axial one only (compression). The wall echoes most at its top
    and bottom (normal incidence); its lateral edges refract the beam and cast thin shadows."""
    vv = p.v * np.float32(1.0 / squash)
    r2 = p.u * p.u + vv * vv
    q = np.sqrt(r2) * np.float32(1.0 / scale)
    axial = vv * vv / (r2 + np.float32(1e-6))
    lumen = np.clip((1.0 - q) / np.float32(p.edge) + 0.5, 0.0, 1.0)
    ves = p.vessel
    ww = np.float32(p.wall_w / scale)
    t = (q - 1.0 - 0.5 * ww) / ww
    wall = np.exp(-t * t)
    factor = (
        1.0
        - np.float32(1.0 - ves.blood) * lumen
        + np.float32(ves.wall) * wall * (0.2 + 0.8 * axial)
    )
    datt = p.atten * lumen * np.float32(-BLOOD_ATTEN_DROP)
    datt += np.float32(EDGE_SHADOW_NP) * wall * (1.0 - axial)
    datt = np.asarray(
        cv2.GaussianBlur(datt.astype(np.float32), (0, 0), sigmaX=p.blur_px, sigmaY=0.3), np.float32
    )
    return factor.astype(np.float32), datt, q < 1.0 + 0.5 * ww
