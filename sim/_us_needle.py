"""An in-plane block needle for the linear-array ultrasound simulator.

The run is a sequence of *passes* of ``pass_s`` seconds each. In pass ``k`` (random numbers from
``(seed, k)`` only, so any frame renders without the ones before it) the needle punctures the
skin beside one end of the probe, from either side, at 2-70 degrees to the probe face
(:func:`draw_angle_deg`; about 35 % of the passes below 20 degrees), aimed
at the edge of a nerve. The puncture lies at most ``ENTRY_BEYOND_MM`` beyond the end of the
probe footprint: on the skin line (depth 0) when the needle is steep enough to reach the target
from there, else deeper, where the skin falls away beside the probe, so that a shallow needle
enters the image from its side edge at depth. It advances in steps with pauses and small
retractions, holds at the target while local anaesthetic spreads (an anechoic pool around the
nerve), then is withdrawn. :func:`render_needle` draws it on an
amplitude image: a specular shaft whose brightness falls with the insonation angle, comet-tail
reverberations below it, a bright bevel tip and a faint acoustic shadow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from ._us_anatomy import Anatomy

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

NEEDLE_LABEL = 3
SHALLOW_ANGLE_DEG = (2.0, 20.0)
"""Range of the shallow passes' angles to the probe face, degrees."""
STEEP_ANGLE_DEG = (20.0, 70.0)
"""Range of the other passes' angles, degrees."""
SHALLOW_SHARE = 0.2
"""Share of angle draws from ``SHALLOW_ANGLE_DEG``. Steep draws find no path to the target from
beside the probe more often and are drawn again, so about 35 % of the passes end up shallow."""
ENTRY_BEYOND_MM = 30.0
"""The skin puncture is at most this far beyond the side edge of the image, mm."""


@dataclass(frozen=True, slots=True)
class NeedleLook:
    """How the needle echoes (fixed per run)."""

    diameter_mm: float
    """Outer diameter (22 G = 0.72 mm), sets the reverberation spacing and the label width."""
    shaft_gain: float
    """Shaft amplitude at normal incidence (1.0 = 0 dB; tissue is about 0.3)."""
    falloff_deg: float
    """Shaft brightness ``exp(-(angle / falloff_deg)^2)``: specular reflection escapes the
    aperture as the needle steepens."""
    tip_gain: float
    reverb_decay: float
    """Amplitude ratio between successive reverberation lines."""
    n_reverb: int
    shadow: float
    """Fraction of the tissue echo lost below the shaft."""


@dataclass(frozen=True, slots=True)
class NeedlePass:
    """One insertion: geometry in image mm, and inserted length ``length_mm`` at pass time
    ``t_knots`` s (piecewise linear); ``phases[i]`` names segment i."""

    index: int
    side: str
    angle_deg: float
    entry_mm: tuple[float, float]
    target_mm: tuple[float, float]
    t_knots: tuple[float, ...]
    l_knots: tuple[float, ...]
    phases: tuple[str, ...]
    hold_s: tuple[float, float]
    inject_mm: float
    """Radius the local-anaesthetic pool reaches by the end of the hold (0: no injection)."""
    inject_shape_rad: float
    """Phase of the pool outline's irregularity, radians."""

    def direction(self) -> tuple[float, float]:
        a = math.radians(self.angle_deg)
        return (math.cos(a) if self.side == "left" else -math.cos(a)), math.sin(a)

    def length_at(self, tau: float) -> float:
        return float(np.interp(tau, self.t_knots, self.l_knots))

    def phase_at(self, tau: float) -> str:
        i = int(np.searchsorted(self.t_knots, tau, side="right")) - 1
        return self.phases[min(max(i, 0), len(self.phases) - 1)]

    def tip_mm(self, tau: float) -> tuple[float, float]:
        d = self.direction()
        length = self.length_at(tau)
        return self.entry_mm[0] + d[0] * length, self.entry_mm[1] + d[1] * length


def _seg_dist(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = b[0] - a[0], b[1] - a[1]
    t = ((p[0] - a[0]) * ax + (p[1] - a[1]) * ay) / max(ax * ax + ay * ay, 1e-9)
    t = min(max(t, 0.0), 1.0)
    return math.hypot(p[0] - a[0] - t * ax, p[1] - a[1] - t * ay)


def draw_angle_deg(rng: np.random.Generator) -> float:
    """A needle angle to the probe face, degrees: uniform over ``SHALLOW_ANGLE_DEG`` with
    probability ``SHALLOW_SHARE``, else uniform over ``STEEP_ANGLE_DEG`` (two draws from
    ``rng`` either way)."""
    shallow = rng.uniform() < SHALLOW_SHARE
    lo, hi = SHALLOW_ANGLE_DEG if shallow else STEEP_ANGLE_DEG
    return float(rng.uniform(lo, hi))


def _aim(
    rng: np.random.Generator, an: Anatomy, width_mm: float, depth_mm: float
) -> tuple[str, float, tuple[float, float], tuple[float, float]]:
    """Side, angle (deg), entry and target (mm): the tip stops just outside a nerve (or at a
    random point), on a path that misses the vessels and the other nerves if it can. The entry
    (skin puncture) is outside the image, at most ``ENTRY_BEYOND_MM`` beyond its side edge: at
    depth 0 if the needle's line reaches the skin line there, else on that vertical at the
    depth where the line meets it (a shallow needle through the side of the limb)."""
    best: tuple[str, float, tuple[float, float], tuple[float, float]] | None = None
    for attempt in range(30):
        side = "left" if rng.uniform() < 0.5 else "right"
        ang = draw_angle_deg(rng)
        a = math.radians(ang)
        d = (math.cos(a) if side == "left" else -math.cos(a), math.sin(a))
        target = None
        if an.nerves and rng.uniform() < 0.85:
            target = an.nerves[int(rng.integers(len(an.nerves)))]
            rel = math.atan2(d[1], d[0]) - math.radians(target.angle_deg)
            na, nb = target.semi_axes_mm  # the nerve's radius along the needle
            r = na * nb / math.hypot(nb * math.cos(rel), na * math.sin(rel))
            off = rng.uniform(-0.8, 0.8) * r
            back = r + rng.uniform(0.2, 1.2)
            tx = target.center_mm[0] - d[0] * back - d[1] * off
            ty = target.center_mm[1] - d[1] * back + d[0] * off
        else:
            tx, ty = rng.uniform(0.2, 0.8) * width_mm, rng.uniform(0.25, 0.75) * depth_mm
        s = ty / d[1]
        ex, ey = tx - d[0] * s, 0.0  # where the line meets the skin line
        edge = 0.0 if side == "left" else width_mm
        beyond = rng.uniform(0.3, 1.0) * ENTRY_BEYOND_MM
        if (edge - ex if side == "left" else ex - edge) > beyond:
            # too far out: the puncture is on the side of the limb, below the skin line
            ex = edge - beyond if side == "left" else edge + beyond
            ey = ty - d[1] * (tx - ex) / d[0]
        outside = ex < -0.5 if side == "left" else ex > width_mm + 0.5
        in_image = 1.0 < tx < width_mm - 1.0 and 2.0 < ty < depth_mm - 2.0
        if not outside or not in_image:
            continue
        cand = (side, ang, (ex, ey), (tx, ty))
        if best is None:
            best = cand
        obstacles = [(v.center_mm, v.radius_mm() + 0.6) for v in an.vessels]
        obstacles += [(n.center_mm, n.radius_mm() + 0.3) for n in an.nerves if n is not target]
        if attempt > 25 or all(_seg_dist(c, (ex, ey), (tx, ty)) > r_min for c, r_min in obstacles):
            return cand
    if best is not None:
        return best
    side = "left"
    tx, ty = 0.6 * width_mm, 0.5 * depth_mm
    return side, math.degrees(math.atan2(ty, tx + 5.0)), (-5.0, 0.0), (tx, ty)


def sample_pass(
    seed: int, index: int, *, anatomy: Anatomy, width_mm: float, depth_mm: float, pass_s: float
) -> NeedlePass:
    """Pass ``index`` of the run with ``seed``: aim, then an advance/pause/retract program."""
    rng = np.random.default_rng([seed, 0x6E656564, index])
    u = rng.uniform
    side, ang, entry, target = _aim(rng, anatomy, width_mm, depth_mm)
    a = math.radians(ang)
    l_target = math.hypot(target[0] - entry[0], target[1] - entry[1])
    edge_x = 0.0 if side == "left" else width_mm
    l_edge = min(abs(edge_x - entry[0]) / math.cos(a), l_target)
    ts: list[float] = [0.0]
    ls: list[float] = [0.0]
    ph: list[str] = []

    def knot(t: float, length: float, phase: str) -> None:
        """The segment ending at (t, length) is named ``phase``."""
        ts.append(t)
        ls.append(length)
        ph.append(phase)

    t = u(0.2, 1.0)
    knot(t, 0.0, "out")
    length = max(l_edge - u(0.0, 3.0), 0.0)
    t += u(0.3, 0.8)
    knot(t, length, "advance")
    overshoot = u(1.0, 4.0) if u() < 0.2 else 0.0
    l_max = l_target + overshoot
    v_base = u(2.0, 8.0)
    while length < l_max - 1e-6:
        step = min(u(2.0, 10.0), l_max - length)
        v = v_base * u(0.6, 1.5)
        t, length = t + step / v, length + step
        knot(t, length, "advance")
        r = u()
        if r < 0.5:
            t += u(0.15, 1.2)
            knot(t, length, "pause")
        elif r < 0.7 and length < l_max - 1e-6:
            back = min(u(1.0, 4.0), length - l_edge * 0.5)
            if back > 0:
                t, length = t + back / v, length - back
                knot(t, length, "retract")
    if overshoot > 0:
        t, length = t + overshoot / v_base, l_target
        knot(t, length, "retract")
    hold0 = t
    t += u(1.0, 3.0)
    knot(t, length, "hold")
    hold1 = t
    t += length / u(8.0, 20.0)
    knot(t, 0.0, "withdraw")
    scale = pass_s / t if t > pass_s else 1.0
    ts[:] = [x * scale for x in ts]
    if ts[-1] < pass_s:
        knot(pass_s, 0.0, "out")
    return NeedlePass(
        index=index,
        side=side,
        angle_deg=ang,
        entry_mm=entry,
        target_mm=target,
        t_knots=tuple(ts),
        l_knots=tuple(ls),
        phases=tuple(ph),
        hold_s=(hold0 * scale, hold1 * scale),
        inject_mm=u(2.0, 6.0) if u() < 0.6 else 0.0,
        inject_shape_rad=u(0.0, 2.0 * math.pi),
    )


def _clip(
    p0: tuple[float, float], p1: tuple[float, float], w: int, h: int
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Liang-Barsky clip of segment p0-p1 (px) to the image rectangle."""
    t0, t1 = 0.0, 1.0
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    for p, q in (
        (-dx, p0[0] + 0.5),
        (dx, w - 0.5 - p0[0]),
        (-dy, p0[1] + 0.5),
        (dy, h - 0.5 - p0[1]),
    ):
        if p == 0:
            if q < 0:
                return None
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
    if t0 > t1:
        return None
    return (p0[0] + t0 * dx, p0[1] + t0 * dy), (p0[0] + t1 * dx, p0[1] + t1 * dy)


def _fx(p: tuple[float, float], ox: int, oy: int) -> tuple[int, int]:
    return round((p[0] - ox) * 16), round((p[1] - oy) * 16)


def render_needle(
    amp: F32,
    labels: U8,
    *,
    entry_px: tuple[float, float],
    tip_px: tuple[float, float],
    angle_deg: float,
    look: NeedleLook,
    spacing_mm: float,
    psf_px: tuple[float, float],
    modulation: F32,
) -> bool:
    """Draw the needle in place on ``amp`` (H, W) float32 and ``labels`` (H, W) uint8.

    ``entry_px``/``tip_px``: (x, y) image pixels of the skin puncture and the tip; ``psf_px``:
    (axial, lateral) PSF sigmas in px; ``modulation``: (H, W) float32 factor on the needle's
    echo (attenuation on the way there and back, speckle-like variation along the shaft).
    Returns whether any of the needle is in view.
    """
    h, w = amp.shape
    seg = _clip(entry_px, tip_px, w, h)
    if seg is None:
        return False
    a, b = seg
    end = b
    seg_len = math.hypot(b[0] - a[0], b[1] - a[1])
    if seg_len < 1e-6:
        return False
    ux, uy = (b[0] - a[0]) / seg_len, (b[1] - a[1]) / seg_len
    tip_in = -0.5 <= tip_px[0] < w - 0.5 and -0.5 <= tip_px[1] < h - 0.5
    thick = max(1, round(0.25 / spacing_mm))
    gap = look.diameter_mm / max(math.cos(math.radians(angle_deg)), 0.2) / spacing_mm
    gap = max(gap, thick + 1.0)
    margin = 4 + int(3 * psf_px[1])
    c0 = max(int(min(a[0], b[0])) - margin, 0)
    c1 = min(int(max(a[0], b[0])) + margin + 1, w)
    r0 = max(int(min(a[1], b[1])) - margin, 0)
    r1 = min(int(max(a[1], b[1]) + gap * look.n_reverb) + margin + 1, h)
    shaft = np.zeros((r1 - r0, c1 - c0), np.uint8)
    tip = np.zeros_like(shaft)
    # the PSF and log compression make a bright end bloom by about half a sigma along the shaft:
    # draw it that much short so that the displayed end of the echo is at the true tip
    sig = math.hypot(psf_px[1] * ux, psf_px[0] * uy)
    if tip_in:
        back = min(0.5 * thick + 0.5 * sig, seg_len)
        b = (b[0] - ux * back, b[1] - uy * back)
    contrast = math.exp(-((angle_deg / look.falloff_deg) ** 2))
    decay = look.reverb_decay * (0.3 + 0.7 * contrast)  # steep needles reverberate less
    for k in range(look.n_reverb + 1):
        val = round(255 * decay**k)
        if val < 4:
            break
        cv2.line(
            shaft,
            _fx((a[0], a[1] + k * gap), c0, r0),
            _fx((b[0], b[1] + k * gap), c0, r0),
            val,
            thick,
            cv2.LINE_AA,
            4,
        )
    if tip_in:  # the bevel: a bright blob whose far edge is the tip
        rad = max(0.3 / spacing_mm, 1.0)
        centre = (tip_px[0] - ux * (rad + 0.5 * sig), tip_px[1] - uy * (rad + 0.5 * sig))
        cv2.circle(tip, _fx(centre, c0, r0), round(16 * rad), 255, -1, cv2.LINE_AA, 4)
    bright = look.shaft_gain * (contrast + 0.06)
    layer = shaft.astype(np.float32) * np.float32(bright / 255.0)
    layer += tip.astype(np.float32) * np.float32(look.tip_gain / 255.0)
    layer = np.asarray(
        cv2.GaussianBlur(layer, (0, 0), sigmaX=max(psf_px[1], 0.3), sigmaY=max(psf_px[0], 0.3)),
        np.float32,
    )
    layer *= modulation[r0:r1, c0:c1]
    # acoustic shadow below the shaft (columns the shaft crosses)
    xa, xb = sorted((a[0], b[0]))
    cols = np.arange(c0, c1, dtype=np.float32)
    slope = (b[1] - a[1]) / (b[0] - a[0]) if abs(b[0] - a[0]) > 1e-6 else 0.0
    yline = a[1] + (cols - a[0]) * slope
    rows = np.arange(h, dtype=np.float32)[:, None]
    span = np.clip(np.minimum(cols - xa, xb - cols) / 3.0 + 0.5, 0.0, 1.0)  # soft ends
    shade = (rows > yline[None, :] + thick) * (look.shadow * span)[None, :].astype(np.float32)
    strip = amp[:, c0:c1]
    strip *= 1.0 - shade
    amp[r0:r1, c0:c1] += layer
    hw = max(0.5 * look.diameter_mm / spacing_mm, 1.0)  # label: the shaft, square-ended
    nx, ny = -uy * hw, ux * hw
    poly = np.array(
        [
            _fx((a[0] + nx, a[1] + ny), 0, 0),
            _fx((end[0] + nx, end[1] + ny), 0, 0),
            _fx((end[0] - nx, end[1] - ny), 0, 0),
            _fx((a[0] - nx, a[1] - ny), 0, 0),
        ],
        np.int32,
    )
    cv2.fillConvexPoly(labels, poly, NEEDLE_LABEL, cv2.LINE_8, 4)
    return True


def render_pool(
    amp: F32,
    labels: U8,
    center_px: tuple[float, float],
    radius_px: float,
    *,
    angle_deg: float,
    shape_rad: float,
) -> None:
    """Darken an anechoic injectate pool in ``amp`` (H, W) float32: an irregular ellipse of
    semi-axes about ``radius_px`` x 0.6 ``radius_px`` along the needle (``angle_deg``; its
    outline wobbles with phase ``shape_rad``), sparing nerves (``labels`` == 1: the "doughnut
    sign") and vessels. Labels stay background in the pool."""
    h, w = amp.shape
    ext = radius_px + 3.0
    c0, c1 = max(int(center_px[0] - ext), 0), min(int(center_px[0] + ext) + 1, w)
    r0, r1 = max(int(center_px[1] - ext), 0), min(int(center_px[1] + ext) + 1, h)
    if c0 >= c1 or r0 >= r1 or radius_px < 0.5:
        return
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32)
    xx -= np.float32(center_px[0])
    yy -= np.float32(center_px[1])
    ca, sa = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    uu = (xx * ca + yy * sa) / np.float32(radius_px)
    vv = (-xx * sa + yy * ca) / np.float32(0.6 * radius_px)
    theta = np.arctan2(vv, uu)
    wobble = 1.0 + 0.15 * np.cos(2.0 * theta + shape_rad) + 0.1 * np.cos(3.0 * theta - shape_rad)
    q = np.sqrt(uu * uu + vv * vv) * wobble.astype(np.float32)
    fluid = np.clip((1.0 - q) * np.float32(radius_px / 2.5), 0.0, 1.0)
    fluid *= labels[r0:r1, c0:c1] == 0
    amp[r0:r1, c0:c1] *= 1.0 - np.float32(0.85) * fluid
