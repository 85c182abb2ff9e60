"""What the echo probe of ``orstream/ProbeNav-v0`` and ``-v1`` sees: the phantom's label map on
the imaging plane of a probe pose, and the chamber-mask features of it.

A pose is an offset from the apical four-chamber view (its rotation set by ``PROBE_TARGETS``) in
``PROBE_ACTION_LAYOUT`` order (slide, depth, aim mm; tilt, rotate deg), turned into a
:class:`ProbePose` by ``view_pose``. The label map is sampled on a (size, size) Cartesian grid
over the sector (``PROBE_DEPTH_MM``, ``PROBE_SECTOR_DEG``), at end-diastole, without forming the
B-mode image.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ._bmode import SectorGeometry
from ._echo import EchoSimulator
from ._echo_pose import ProbePose, view_pose
from ._heart import CardiacCycle, HeartAnatomy, HeartPhantom
from ._heart_sampler import PhantomSampler
from ._probe_nav_spec import (
    PROBE_CHAMBERS,
    PROBE_DEPTH_MM,
    PROBE_OBS_SIZE,
    PROBE_QUALITY_DEG,
    PROBE_QUALITY_MM,
    PROBE_SECTOR_DEG,
    PROBE_TARGETS,
)
from ._protocol import SimFrame

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
HELD_OUT_PHANTOM_SEED = 1_000_000
"""Phantom ids from here on are evaluation-only; training draws ids below it."""


def probe_jitter(offset: F64) -> F64:
    """(5,) offset in ``PROBE_ACTION_LAYOUT`` order -> (6,) ``view_pose`` jitter (roll deg, tilt
    deg, aim in-plane mm, aim out-of-plane mm (0), transducer sideways mm, depth mm)."""
    slide, depth, aim, tilt, rotate = (float(x) for x in offset)
    return np.array([rotate, tilt, aim, 0.0, slide, depth])


def pose_error(pose: ProbePose, target: ProbePose) -> tuple[float, float]:
    """(transducer distance mm, rotation angle between the imaging frames deg)."""
    dist = float(np.linalg.norm(np.subtract(pose.origin, target.origin)))
    a = np.array([pose.lateral, pose.axis, pose.normal])
    b = np.array([target.lateral, target.axis, target.normal])
    cos = (float(np.trace(a @ b.T)) - 1.0) / 2.0
    return dist, math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def view_quality(error_mm: float, error_deg: float) -> float:
    """1 at the target view, 0 at ``PROBE_QUALITY_MM`` and ``PROBE_QUALITY_DEG`` off or more."""
    return (
        1.0
        - 0.5 * min(1.0, error_mm / PROBE_QUALITY_MM)
        - 0.5 * min(1.0, error_deg / PROBE_QUALITY_DEG)
    )


class ProbeView:
    """One phantom (``phantom_id``) seen by a probe: ``pose(offset)``, ``labels(pose)`` (size,
    size) uint8 label indices (0 outside the sector) and ``features(labels)``; ``target``: the
    four-chamber view, its rotation about the LV axis set by ``target`` (``PROBE_TARGETS``)."""

    def __init__(self, phantom_id: int, size: int = 96, target: str = "textbook") -> None:
        if target not in PROBE_TARGETS:
            raise ValueError(f"unknown target {target!r}; choose one of {', '.join(PROBE_TARGETS)}")
        rng = np.random.default_rng([0x9B0E, int(phantom_id)])
        self.phantom_id = int(phantom_id)
        self.anatomy = HeartAnatomy.sample(rng)
        self.phantom = HeartPhantom(self.anatomy, CardiacCycle(75.0, 0.55), 0.1, 0.0)
        self.state = self.phantom.state(0.0)  # end-diastole
        # The image plane contains the heart-frame direction at the view's roll (deg).
        self.roll_deg = self.anatomy.ra_angle if target == "right-atrium" else 0.0
        self.target = self.pose(np.zeros(5))
        half = PROBE_DEPTH_MM * math.sin(math.radians(PROBE_SECTOR_DEG / 2))
        u = np.linspace(-half, half, size, dtype=np.float32)
        v = np.linspace(0.0, PROBE_DEPTH_MM, size, dtype=np.float32)
        self.u, self.v = np.meshgrid(u, v)
        ang = np.degrees(np.arctan2(self.u, np.maximum(self.v, 1e-6)))
        self.sector = (np.hypot(self.u, self.v) <= PROBE_DEPTH_MM) & (
            np.abs(ang) <= PROBE_SECTOR_DEG / 2
        )
        self.half_mm = half
        self._near = np.zeros(self.u.shape, np.bool_)
        # Pixel coordinates normalised to the sector: x -1..1 left..right, y -1..1 apex..depth.
        self._x = (self.u / half).ravel().astype(np.float64)
        self._y = (2.0 * self.v / PROBE_DEPTH_MM - 1.0).ravel().astype(np.float64)
        self._n_sector = int(np.count_nonzero(self.sector))
        self._scanners: dict[tuple[int, int], EchoSimulator] = {}

    def pose(self, offset: F64) -> ProbePose:
        """The probe pose at ``offset`` (5,) from the four-chamber view."""
        jitter = probe_jitter(offset)
        jitter[0] += self.roll_deg
        return view_pose(self.anatomy, "a4c", jitter)

    def sampler(self, pose: ProbePose) -> PhantomSampler:
        """The phantom sampled on the (size, size) grid of the plane of ``pose``, its heart
        held at end-diastole: ``evaluate(self.state, (0, 0, 0))`` gives labels and classes."""
        return PhantomSampler(
            self.phantom,
            origin=np.array(pose.origin),
            lateral=np.array(pose.lateral),
            axis=np.array(pose.axis),
            u0=self.u,
            v0=self.v,
            near=self._near,
            phases=1,  # the heart is held at end-diastole (t = 0)
        )

    def labels(self, pose: ProbePose) -> npt.NDArray[np.uint8]:
        """(size, size) uint8 label map of the plane of ``pose`` (0 outside the sector)."""
        labels = self.sampler(pose).evaluate(self.state, (0.0, 0.0, 0.0))[0]
        return np.where(self.sector, labels, 0).astype(np.uint8)

    def features(self, labels: npt.NDArray[np.uint8]) -> F32:
        """(``PROBE_OBS_SIZE``,) float32 chamber-mask features (``PROBE_OBS_LAYOUT``)."""
        flat = labels.ravel()
        x, y, k = self._x, self._y, len(PROBE_CHAMBERS) + 1
        n = np.bincount(flat, minlength=k)[:k].astype(np.float64)
        sx, sy = (np.bincount(flat, w, k)[:k] for w in (x, y))
        sxx, syy, sxy = (np.bincount(flat, w, k)[:k] for w in (x * x, y * y, x * y))
        out = np.zeros(PROBE_OBS_SIZE, np.float64)
        min_px = max(4.0, 0.002 * self._n_sector)
        # Pixel aspect: x spans 2 half-widths, y the depth; back to mm for the orientation.
        kx, ky = self.half_mm, PROBE_DEPTH_MM / 2.0
        lv_axis = lv_len = 0.0
        for j, (_, lab) in enumerate(PROBE_CHAMBERS):
            if n[lab] < min_px:
                continue
            cx, cy = sx[lab] / n[lab], sy[lab] / n[lab]
            cxx = (sxx[lab] / n[lab] - cx * cx) * kx * kx
            cyy = (syy[lab] / n[lab] - cy * cy) * ky * ky
            cxy = (sxy[lab] / n[lab] - cx * cy) * kx * ky
            a = 0.5 * math.atan2(2.0 * cxy, cyy - cxx)  # principal axis from the vertical, rad
            out[6 * j : 6 * j + 6] = (
                1.0, n[lab] / self._n_sector, cx, cy, math.cos(2 * a), math.sin(2 * a)
            )  # fmt: skip
            if lab == 1:
                big = 0.5 * (cxx + cyy) + math.sqrt(0.25 * (cxx - cyy) ** 2 + cxy * cxy)
                lv_axis, lv_len = a / (math.pi / 2), 4.0 * math.sqrt(big) / PROBE_DEPTH_MM
        left, right = n[1] + n[4], n[3] + n[5]
        both = left + right
        cx_all = (sx[1] + sx[3] + sx[4] + sx[5]) / both if both else 0.0
        out[-4:] = (lv_axis, lv_len, (left - right) / both if both else 0.0, cx_all)
        return out.astype(np.float32)

    def bmode(
        self, pose: ProbePose, seed: int, t_s: float, size: int = 112
    ) -> tuple[SimFrame, SectorGeometry]:
        """The echo simulator's frame nearest time ``t_s`` (s; the heart beats, end-diastole at
        0) imaging this phantom from ``pose``, with its scanner settings drawn by ``seed`` and
        the depth and sector of the label map's (``PROBE_DEPTH_MM``, ``PROBE_SECTOR_DEG``),
        (size, size) px, and the frame's sector geometry."""
        scanner = self._scanners.get((seed, size))
        if scanner is None:  # built once per scanner; each pose only re-aims it
            scanner = EchoSimulator(
                seed,
                pose=pose,
                phantom=self.phantom,
                size=(size, size),
                settings={"depth_mm": PROBE_DEPTH_MM, "sector_deg": PROBE_SECTOR_DEG},
            )
            self._scanners[(seed, size)] = scanner
        sim = scanner.aimed(pose)
        return sim.render(round(t_s * sim.fps)), sim.geom

    def on_grid(self, mask: npt.NDArray[np.uint8], geometry: SectorGeometry) -> U8:
        """``mask`` (H, W) of a frame of ``geometry`` (e.g. a segmentation of :meth:`bmode`)
        resampled (nearest) on this view's (size, size) grid, 0 outside the sector."""
        col = np.rint(geometry.apex_px[0] + self.u / geometry.spacing_mm).astype(np.intp)
        row = np.rint(geometry.apex_px[1] + self.v / geometry.spacing_mm).astype(np.intp)
        h, w = mask.shape
        inside = self.sector & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        out = np.zeros(self.u.shape, np.uint8)
        out[inside] = mask[row[inside], col[inside]]
        return out
