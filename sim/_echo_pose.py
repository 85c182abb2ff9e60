"""Probe poses of the echo simulator: the transducer's place and aim in the heart frame, and the
standard pose of each echo view (ASE screen orientation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._heart import HeartAnatomy

VIEWS = ("a4c", "a2c", "a3c", "plax")
_SCREEN_RIGHT_DEG = {"a4c": 180.0, "a2c": 120.0, "a3c": 60.0}


@dataclass(frozen=True)
class ProbePose:
    """Transducer pose in the heart frame (mm): sector apex ``origin``, unit ``axis`` (beam
    centre line, image down) and unit ``lateral`` (image right); ``normal`` = lateral x axis."""

    origin: tuple[float, float, float]
    axis: tuple[float, float, float]
    lateral: tuple[float, float, float]

    @property
    def normal(self) -> tuple[float, float, float]:
        n = np.cross(np.array(self.lateral), np.array(self.axis))
        return (float(n[0]), float(n[1]), float(n[2]))

    def to_json(self) -> dict[str, list[float]]:
        return {
            k: [round(c, 4) for c in v]
            for k, v in (("origin_mm", self.origin), ("axis", self.axis), ("lateral", self.lateral))
        }


def _unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return v / float(np.linalg.norm(v))


def view_pose(
    an: HeartAnatomy, view: str, jitter: npt.NDArray[np.float64] | None = None
) -> ProbePose:
    """Standard probe pose for ``view`` ("a4c", "a2c", "a3c", "plax"), ASE screen orientation.

    ``jitter`` (6,): rotation about the LV axis (deg), out-of-plane tilt (deg), target offsets
    in-plane and out-of-plane (mm), transducer offsets sideways and in depth (mm); None for the
    textbook pose. Apical views: transducer below the apex, aimed up the long axis (the A4C one
    a little toward the septum, so the crux sits mid-sector); PLAX: left parasternal, aimed
    posteriorly across the base, base to the image right.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown echo view {view!r}; choose one of {', '.join(VIEWS)}")
    roll, tilt, t_lat, t_elev, o_lat, o_depth = np.zeros(6) if jitter is None else jitter
    zb = an.base_z
    if view == "plax":
        ang = math.radians(60.0 + roll)
        radial = np.array([math.cos(ang), math.sin(ang), 0.0])
        normal = np.array([-math.sin(ang), math.cos(ang), 0.0])
        dist = an.rv_dist + an.rv_radial + 18.0 + o_depth
        origin = radial * dist + np.array([0.0, 0.0, 0.92 * zb + o_lat])
        target = np.array([0.0, 0.0, 0.92 * zb - 16.0 + t_lat])
        target += normal * (t_elev + math.tan(math.radians(tilt)) * dist)
        lat0 = np.array([0.0, 0.0, 1.0])
    else:
        ang = math.radians(_SCREEN_RIGHT_DEG[view] + roll)
        lat0 = np.array([math.cos(ang), math.sin(ang), 0.0])
        elev = np.array([-math.sin(ang), math.cos(ang), 0.0])
        left = 12.0 if view == "a4c" else 2.0
        origin = -lat0 * (0.3 * left + o_lat) + np.array([0.0, 0.0, -18.0 - o_depth])
        target = -lat0 * (left + t_lat) + np.array([0.0, 0.0, 0.8 * zb])
        target += elev * (t_elev + math.tan(math.radians(tilt)) * zb)
    axis = _unit(target - origin)
    lateral = _unit(lat0 - float(np.dot(lat0, axis)) * axis)
    return ProbePose(
        (float(origin[0]), float(origin[1]), float(origin[2])),
        (float(axis[0]), float(axis[1]), float(axis[2])),
        (float(lateral[0]), float(lateral[1]), float(lateral[2])),
    )
