"""Fluoroscopy motion and timing: breathing, heartbeat and contrast injections over time.

Both are pure functions of time in seconds (any frame, in any order, renders the same), drawn
once per simulator from its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._fluoro_body import F32, F64


@dataclass(frozen=True)
class Physiology:
    """Breathing (craniocaudal shift) and heartbeat (shift + contraction about ``center``)."""

    breath_period_s: float
    breath_mm: float
    breath_phase: float
    heart_period_s: float
    heart_phase: float
    heart_mm: float
    heart_scale: float
    center: tuple[float, float]
    px_per_mm: float

    def phases(self, t_s: float) -> tuple[float, float]:
        """(breathing, cardiac) phase in [0, 1) at ``t_s``; 0 = end-expiration, end-diastole."""
        return (
            (t_s / self.breath_period_s + self.breath_phase) % 1.0,
            (t_s / self.heart_period_s + self.heart_phase) % 1.0,
        )

    def breath_px(self, t_s: float) -> F64:
        """Breathing shift (x, y) px at ``t_s`` (inspiration pushes the liver down)."""
        b = 0.5 - 0.5 * math.cos(2 * math.pi * self.phases(t_s)[0])
        return np.array([0.12, 1.0]) * b * self.breath_mm * self.px_per_mm

    def matrix(self, t_s: float) -> F64:
        """2x3 affine px -> px moving the rest scene to time ``t_s``."""
        ph = self.phases(t_s)[1]
        c = math.sin(math.pi * ph / 0.4) ** 2 if ph < 0.4 else 0.0  # systole
        s = 1.0 - self.heart_scale * c
        b = (
            (1 - s) * np.asarray(self.center)
            + self.breath_px(t_s)
            + np.array([0.6, 0.8]) * c * self.heart_mm * self.px_per_mm
        )
        return np.array([[s, 0.0, b[0]], [0.0, s, b[1]]])


@dataclass(frozen=True)
class ContrastSchedule:
    """Injections every ``period_s``: a bolus front runs down the tree, then a clearing front."""

    period_s: float
    start_s: float
    inject_s: float
    speed_mm_s: float = 180.0
    ramp_mm: float = 20.0
    clear_mm_s: float = 90.0
    clear_ramp_mm: float = 70.0

    def cycle(self, t_s: float) -> tuple[int, float]:
        """(injection number, seconds since that injection started) at ``t_s``."""
        k = math.floor((t_s - self.start_s) / self.period_s)
        return k, t_s - self.start_s - k * self.period_s

    def fill(self, tc: float, arrival_mm: F32) -> F32:
        """Iodine fill 0..1, ``tc`` s after injection, of lumen ``arrival_mm`` downstream."""
        inflow = np.clip((self.speed_mm_s * tc - arrival_mm) / self.ramp_mm, 0, 1)
        clear = self.clear_mm_s * (tc - self.inject_s) - arrival_mm
        out: F32 = inflow * (1 - np.clip(clear / self.clear_ramp_mm, 0, 1))
        return out

    def phase(self, tc: float, reach_mm: float) -> str:
        """ "wash-in", "peak", "wash-out" or "none" for a tree reaching ``reach_mm`` downstream."""
        if tc < min(reach_mm / self.speed_mm_s, self.inject_s):
            return "wash-in"
        if tc < self.inject_s:
            return "peak"
        if tc < self.inject_s + (reach_mm + self.clear_ramp_mm) / self.clear_mm_s:
            return "wash-out"
        return "none"
