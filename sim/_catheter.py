"""Catheter shapes: real traced centerlines, flexible chains along vessel paths, motion in time.

A catheter is a flexible chain: (N, 2) points in px (x = column, y = row, pixel centres at
integer coordinates), a fixed link length apart, the **tip first**. A :class:`CatheterTrack`
holds K keyframe chains of the same length and plays them back and forth in time with a
seed-driven, never negative push speed, interpolating linearly between keyframes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

CENTERLINE_GLOB = "*_catheterCenterline.txt"
"""File names of the real centerlines in ``dataset1/fluoro/centerlines`` (``NNNN_3.0_...``)."""


def catmull_rom(points: F64, samples: int = 8) -> F64:
    """Centripetal Catmull-Rom spline through ``points``: (N, 2) in, (samples*(N-1)+1, 2) out.

    The curve passes through every input point (the first and the last included), so a tip
    given as the first point stays exactly where it was.
    """
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 3:
        return p.copy()
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    p0, p1, p2, p3 = ext[:-3], ext[1:-2], ext[2:-1], ext[3:]

    def knot(a: F64, b: F64) -> F64:
        out: F64 = np.sqrt(np.maximum(np.linalg.norm(b - a, axis=1), 1e-9))[:, None]
        return out

    t1 = knot(p0, p1)
    t2 = t1 + knot(p1, p2)
    t3 = t2 + knot(p2, p3)
    u = np.linspace(0.0, 1.0, samples, endpoint=False)[None, :, None]
    t = t1[:, None] + u * (t2 - t1)[:, None]
    t1, t2, t3 = t1[:, None], t2[:, None], t3[:, None]
    a1 = ((t1 - t) * p0[:, None] + t * p1[:, None]) / t1
    a2 = ((t2 - t) * p1[:, None] + (t - t1) * p2[:, None]) / (t2 - t1)
    a3 = ((t3 - t) * p2[:, None] + (t - t2) * p3[:, None]) / (t3 - t2)
    b1 = ((t2 - t) * a1 + t * a2) / t2
    b2 = ((t3 - t) * a2 + (t - t1) * a3) / (t3 - t1)
    c = ((t2 - t) * b1 + (t - t1) * b2) / (t2 - t1)
    out: F64 = np.vstack([c.reshape(-1, 2), p[-1:]])
    return out


def arc_length(points: F64) -> F64:
    """Cumulative arc length in px along (N, 2) ``points``: (N,), starting at 0."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def sample_at(points: F64, s: F64) -> F64:
    """Points at arc lengths ``s`` (M,) px along ``points`` (N, 2), clamped to the ends."""
    cum = arc_length(points)
    return np.stack([np.interp(s, cum, points[:, 0]), np.interp(s, cum, points[:, 1])], axis=1)


class FixedTrack:
    """A catheter that stays where it was put: ``at(t)`` is always ``points`` ((N, 2) px at
    rest, tip first, links ``step_px`` long)."""

    step_px = 2.0

    def __init__(self, points: F64) -> None:
        self.points = points

    def at(self, t: float) -> F64:
        return self.points


def resample(points: F64, step_px: float) -> F64:
    """Resample a polyline at a fixed link length: (N, 2) -> (M, 2), starting at points[0]."""
    total = float(arc_length(points)[-1])
    return sample_at(points, np.arange(0.0, total + 1e-9, step_px))


def extend(points: F64, length_px: float, step_px: float, tail: int = 6) -> F64:
    """Prolong the last end of ``points`` straight by ``length_px`` (links ``step_px`` long).

    The direction is the mean of the last ``tail`` links, so a jittery trace ends smoothly.
    """
    if length_px <= 0:
        return points
    k = min(tail, len(points) - 1)
    d = points[-1] - points[-1 - k]
    d = d / max(float(np.linalg.norm(d)), 1e-9)
    s = np.arange(step_px, length_px + 1e-9, step_px)
    out: F64 = np.vstack([points, points[-1] + s[:, None] * d[None, :]])
    return out


def smooth_chain(points: F64, iterations: int, weight: float = 0.5) -> F64:
    """Laplacian smoothing with both ends pinned: a flexible chain cutting tight corners."""
    p = points.copy()
    for _ in range(iterations):
        p[1:-1] += weight * (0.5 * (p[:-2] + p[2:]) - p[1:-1])
    return p


def load_real_centerlines(folder: Path) -> list[F64]:
    """Read every ``NNNN_3.0_catheterCenterline.txt`` in ``folder``, ordered by NNNN.

    Returns a list of (N_i, 2) float64 arrays, one ``x y`` point (px on the 1024x1024 view at
    0.2536 mm/px) a row, about 3 mm apart, **tip first**. Raises ValueError naming the file
    when one cannot be parsed and FileNotFoundError when there are none.
    """
    files = sorted(folder.glob(CENTERLINE_GLOB), key=lambda f: _frame_number(f.name))
    if not files:
        raise FileNotFoundError(f"no {CENTERLINE_GLOB} files in {folder}")
    shapes: list[F64] = []
    for f in files:
        try:
            arr = np.loadtxt(f, dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"{f}: expected one 'x y' pair of numbers per line ({exc})") from exc
        if arr.shape[1] != 2 or len(arr) < 2 or not np.all(np.isfinite(arr)):
            raise ValueError(f"{f}: expected at least two finite 'x y' rows, got {arr.shape}")
        shapes.append(arr)
    return shapes


def _frame_number(name: str) -> int:
    m = re.match(r"(\d+)_", name)
    return int(m.group(1)) if m else 1 << 30


@dataclass(frozen=True)
class CatheterTrack:
    """K keyframe chains played back and forth in time.

    ``keyframes``: (K, N, 2) float64 px, tip first, ``step_px`` apart along each chain.
    ``rate_hz``: keyframes per second on average; the push speed is modulated by
    ``1 + speed_mod * cos(2 pi t / speed_period_s + phase)`` (never negative for
    ``speed_mod < 1``). ``start``: keyframe index at t = 0.
    """

    keyframes: F64
    step_px: float
    rate_hz: float
    start: float = 0.0
    speed_mod: float = 0.0
    speed_period_s: float = 4.0
    phase: float = 0.0

    def progress(self, t_s: float) -> float:
        """Keyframe position (0..K-1, fractional) at time ``t_s``: ping-pong over the keyframes."""
        k = len(self.keyframes) - 1
        if k == 0:
            return 0.0
        w = 2 * np.pi / self.speed_period_s
        wobble = self.speed_mod / w * (np.sin(w * t_s + self.phase) - np.sin(self.phase))
        f = self.start + self.rate_hz * (t_s + wobble)
        f = f % (2 * k)
        return float(f if f <= k else 2 * k - f)

    def at(self, t_s: float) -> F64:
        """The chain at time ``t_s``: (N, 2) float64 px, tip first."""
        q = self.progress(t_s)
        i = min(int(q), len(self.keyframes) - 2) if len(self.keyframes) > 1 else 0
        a = q - i
        if a <= 0 or len(self.keyframes) == 1:
            return np.array(self.keyframes[i], dtype=np.float64)
        out: F64 = (1 - a) * self.keyframes[i] + a * self.keyframes[i + 1]
        return out

    def aligned(
        self, dist: npt.NDArray[np.float32], search_px: int, part: float = 0.6
    ) -> CatheterTrack:
        """Each keyframe shifted (:func:`fit_shift`) so that its distal ``part`` lies on the
        zero set of ``dist`` ((H, W) px distance to target centerlines)."""
        kf = self.keyframes.copy()
        for i, chain in enumerate(kf):
            kf[i] += fit_shift(chain[: max(2, int(len(chain) * part))], dist, search_px)
        return replace(self, keyframes=kf)

    def transformed(self, m: F64) -> CatheterTrack:
        """The same track under the 2x3 affine ``m`` (px -> px); the link length scales along."""
        kf = self.keyframes @ m[:, :2].T + m[:, 2]
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        return replace(self, keyframes=kf, step_px=self.step_px * scale)


def real_track(
    shapes: list[F64], step_px: float, extra_px: float, rate_hz: float, **motion: float
) -> CatheterTrack:
    """Keyframes from real traced centerlines (tip first, any point count).

    Each trace is smoothed with a Catmull-Rom spline through its points (the tip stays put),
    resampled at ``step_px`` and prolonged straight at its proximal end so that every chain is
    ``max length + extra_px`` long (reaching out of the view, where the real catheter goes).
    """
    dense = [resample(catmull_rom(s), step_px) for s in shapes]
    n = max(len(d) for d in dense) + int(np.ceil(extra_px / step_px))
    frames = [extend(d, (n - len(d) + 0.5) * step_px, step_px)[:n] for d in dense]
    return CatheterTrack(np.stack(frames), step_px, rate_hz, **motion)


def field_suffix_px(points: F64, center: F64, radius: float) -> float:
    """Arc length (px) of the end of ``points`` (N, 2) that lies within ``radius`` of ``center``."""
    out = np.flatnonzero(np.linalg.norm(points - center, axis=1) > radius)
    start = int(out[-1]) + 1 if len(out) else 0
    return float(arc_length(points[start:])[-1]) if start < len(points) - 1 else 0.0


def path_track(
    path: F64,
    step_px: float,
    n_keyframes: int,
    travel_px: float,
    rate_hz: float,
    **motion: float,
) -> CatheterTrack:
    """Keyframes of a chain pushed along ``path`` ((M, 2) px, from the access end to the target).

    The tip moves from ``travel_px`` short of the path's end to its end; the chain behind it
    follows the path back to the access end (which should lie outside the view), smoothed a
    little as a flexible chain would cut the corners of its vessel.
    """
    p = smooth_chain(resample(catmull_rom(path, 4), step_px), 80)
    total = float(arc_length(p)[-1])
    tips = np.linspace(max(total - travel_px, step_px), total, n_keyframes)
    n = int(np.ceil(total / step_px)) + 1
    back = np.arange(n)[None, :] * step_px
    s = np.maximum(tips[:, None] - back, 0.0)
    frames = np.stack([sample_at(p, row) for row in s])
    return CatheterTrack(frames, step_px, rate_hz, **motion)


def fit_shift(points: F64, dist: npt.NDArray[np.float32], search_px: int) -> F64:
    """Translation (dx, dy) px that best lays ``points`` (N, 2) on the zero set of ``dist``.

    ``dist``: (H, W) distance map, px, to the target curves (vessel centerlines). Coarse-to-
    fine grid search within ``search_px``, robust mean of the distances clipped at 15 px;
    points outside the map are ignored.
    """
    h, w = dist.shape
    best = np.zeros(2)
    for step in (4.0, 1.0, 0.25):
        span = search_px if step == 4.0 else 4 * step
        g = np.arange(-span, span + 1e-9, step)
        offs = best + np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
        q = np.round(points[None, :, :] + offs[:, None, :]).astype(np.int64)
        ok = (q[..., 0] >= 0) & (q[..., 0] < w) & (q[..., 1] >= 0) & (q[..., 1] < h)
        d = np.minimum(dist[np.clip(q[..., 1], 0, h - 1), np.clip(q[..., 0], 0, w - 1)], 15.0)
        cost = np.where(ok, d, 15.0).mean(axis=1)
        best = offs[int(np.argmin(cost))]
    return best
