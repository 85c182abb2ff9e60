"""Echocardiography simulator: phased-array B-mode of the beating-heart phantom, with truth.

``EchoSimulator(seed=1, ef=0.55, hr_bpm=75).render(i)`` gives frame ``i`` at ``i / fps`` s:
a (H, W) uint8 sector image, (H, W) uint8 labels (``LABEL_NAMES``) and JSON-able truth. The
image is the slice of the phantom by the probe's imaging plane, formed in beam space (tissue-
fixed speckle, specular interfaces, attenuation/TGC residual, dropout, shadowing, clutter,
noise, PSF, log compression) and scan-converted; the labels are the same slice, so masks follow
the rendered boundaries. ``randomize`` draws scanner settings and probe pose from the seed
(domain randomization); anatomy, EF and heart rate are always drawn from the seed unless given.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict
from typing import Any

import cv2
import numpy as np

from ._bmode import SectorGeometry, SpeckleAtlas, depth_gain, envelope, log_compress, scan_convert
from ._echo_pose import ProbePose, view_pose
from ._echo_septum import septum_weight
from ._heart import (
    CLS_AORTA,
    CLS_CHEST,
    CLS_FAT,
    CLS_LA,
    CLS_LV,
    CLS_MYO,
    CLS_OUTER,
    CLS_PERI,
    CLS_RA,
    CLS_RV,
    CLS_VALVE,
    CLS_WALL,
    LABEL_NAMES,
    N_CLASSES,
    CardiacCycle,
    HeartAnatomy,
    HeartPhantom,
)
from ._heart_sampler import PhantomSampler
from ._protocol import SimFrame

# (low, high) of each randomized setting; ``randomize=False`` uses the midpoint.
RANGES: dict[str, tuple[float, float]] = {
    "depth_mm": (140.0, 185.0),
    "sector_deg": (65.0, 90.0),
    "myo_gray": (70.0, 140.0),
    "dynamic_range_db": (48.0, 68.0),
    "speckle_scale": (0.7, 1.25),
    "noise_db": (-30.0, -18.0),
    "dropout": (0.0, 0.85),
    "clutter_db": (-30.0, -12.0),
    "atten_db_cm": (0.5, 1.1),
    "tgc_ripple_db": (0.0, 4.0),
    "blood_db": (-36.0, -26.0),
    "fat_db": (-13.0, -6.0),
    "peri_db": (4.0, 12.0),
    "valve_db": (2.0, 8.0),
    "specular": (0.8, 2.0),
    "coherent": (0.4, 1.0),
    "pose_angle_deg": (-7.0, 7.0),
    "pose_offset_mm": (-5.0, 5.0),
}
"""Amplitude levels (``*_db``) are relative to the myocardium; ``myo_gray`` is its displayed
grey level, which with ``dynamic_range_db`` sets the gain; ``noise_db`` is receiver noise at the
deepest sample and ``clutter_db`` near-field reverberation, both relative to the myocardium."""


class EchoSimulator:
    """Beating-heart echo: the ``Simulator`` protocol (``render(index)``, ``describe()``).

    ``seed``: everything random; ``ef`` (fraction) and ``hr_bpm`` default to draws in 0.25-0.75
    and 50-110; ``view``: "a4c" (default), "a2c", "a3c" or "plax"; ``size``: output (H, W);
    ``fps``: frame rate; ``randomize``: draw scanner settings and probe pose jitter from
    ``RANGES`` (else their midpoints); ``settings``: fixed values overriding draws (keys of
    ``RANGES``); ``pose``: an explicit :class:`ProbePose` (heart frame); ``septal_dropout``:
    the fraction (0-1) of the interventricular septum's echo lost, as when the septum runs
    along the beams (0: none, the default; 1: an echo-free septum between LV and RV);
    ``phantom``: this heart (its EF and rate override ``ef``, ``hr_bpm``) instead of the seed's.
    """

    modality = "echo"
    label_names = LABEL_NAMES

    def __init__(
        self,
        seed: int = 0,
        *,
        ef: float | None = None,
        hr_bpm: float | None = None,
        view: str = "a4c",
        size: tuple[int, int] = (128, 128),
        fps: float = 50.0,
        randomize: bool = True,
        settings: dict[str, float] | None = None,
        pose: ProbePose | None = None,
        septal_dropout: float = 0.0,
        phantom: HeartPhantom | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive; got {fps}")
        if not 0.0 <= septal_dropout <= 1.0:
            raise ValueError(f"septal_dropout must be in [0, 1]; got {septal_dropout}")
        self.septal_dropout = float(septal_dropout)
        unknown = set(settings or {}) - set(RANGES)
        if unknown:
            raise ValueError(f"unknown echo settings {sorted(unknown)}; known: {sorted(RANGES)}")
        self.seed, self.view, self.fps, self.randomize = int(seed), view, float(fps), randomize
        rng = np.random.default_rng([0xEC40, self.seed])
        an = HeartAnatomy.sample(rng)
        self.ef = float(rng.uniform(0.25, 0.75)) if ef is None else float(ef)
        self.hr_bpm = float(rng.uniform(50.0, 110.0)) if hr_bpm is None else float(hr_bpm)
        cycle = CardiacCycle(self.hr_bpm, self.ef, float(rng.uniform(0.55, 0.8)))
        ls = min(0.28 * self.ef * float(rng.uniform(0.85, 1.15)), 0.2, 0.45 * self.ef)
        phase0 = float(rng.uniform(0.0, 1.0)) if randomize else 0.0
        self.phantom = HeartPhantom(an, cycle, ls, phase0) if phantom is None else phantom
        if phantom is not None:  # the seed still draws the scanner, as for its own heart
            an, self.ef, self.hr_bpm = phantom.anatomy, phantom.cycle.ef, phantom.cycle.hr_bpm
        draws = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in RANGES.items()}
        s = draws if randomize else {k: 0.5 * (lo + hi) for k, (lo, hi) in RANGES.items()}
        if view == "plax" and not (settings and "depth_mm" in settings):
            s["depth_mm"] = s["depth_mm"] * 0.85
        s.update(settings or {})
        self.settings = s
        # Pose jitter: roll and target offset from the settings, the rest drawn here.
        extra = rng.uniform(-1.0, 1.0, 4) * np.array([3.5, 5.0, 2.0, 3.0]) * float(randomize)
        self.pose_jitter = np.array(
            [s["pose_angle_deg"], extra[0], s["pose_offset_mm"], extra[1], extra[2], extra[3]]
        )
        self.pose = pose if pose is not None else view_pose(an, view, self.pose_jitter)
        h, w = size
        self.geom = SectorGeometry.fit(
            s["depth_mm"],
            s["sector_deg"],
            (h, w),
            n_samples=max(32, round(1.1 * h)),
            n_beams=max(24, round(0.75 * w)),
        )
        self.spacing_mm = (self.geom.spacing_mm, self.geom.spacing_mm)
        self.geometry = self.geom.to_json()
        self._pose_json = self.pose.to_json()
        self._setup(rng)

    # -- precomputation -------------------------------------------------------------------------
    def _setup(self, rng: np.random.Generator) -> None:
        g, s = self.geom, self.settings
        r = g.depths_mm()[:, None]
        th = g.angles_rad()[None, :]
        self._u0 = (r * np.sin(th)).astype(np.float32)
        self._v0 = (r * np.cos(th)).astype(np.float32)
        half_w = g.depth_mm * math.sin(math.radians(g.angle_deg / 2)) + 12.0
        # Physical PSF (axial 0.75 mm, lateral 1 deg sigma, x speckle_scale) in beam samples.
        scale = s["speckle_scale"]
        d_theta = g.angle_deg / (g.n_beams - 1)
        self._psf = (max(0.8, 0.75 * scale / g.sample_mm), max(0.8, 1.0 * scale / d_theta))
        self.atlas = SpeckleAtlas(
            rng,
            (-half_w, half_w),
            (-12.0, g.depth_mm + 12.0),
            (-10.0, 10.0),
            cell_mm=max(0.8 * scale, g.sample_mm),
            slab_mm=2.0 * scale,
            modulation=0.45,
            modulation_mm=9.0,
        )
        # Normalise the speckle to unit power after the PSF; coherent (Rician) part relative to it.
        bi, bq = (
            cv2.GaussianBlur(c, (0, 0), sigmaX=self._psf[1], sigmaY=self._psf[0])
            for c in self.atlas.sample(self._u0, self._v0, np.zeros_like(self._u0))
        )
        self.atlas.scale(1.0 / math.sqrt(float(np.mean(bi**2 + bq**2))))
        self._coherent = np.float32(s["coherent"])
        self._specular = np.float32(s["specular"])
        # Amplitude per tissue class (linear, relative backscatter).
        lut = np.zeros(N_CLASSES, np.float32)

        def db(x: float) -> float:
            return float(10.0 ** (x / 20.0))

        lut[[CLS_LV, CLS_RV, CLS_LA, CLS_RA, CLS_AORTA]] = db(s["blood_db"])
        lut[CLS_MYO], lut[CLS_FAT], lut[CLS_PERI] = 1.0, db(s["fat_db"]), db(s["peri_db"])
        lut[CLS_VALVE], lut[CLS_WALL] = db(s["valve_db"]), db(-4.0)
        lut[CLS_OUTER], lut[CLS_CHEST] = db(-16.0), db(-3.0)
        self._gain_db = -s["dynamic_range_db"] * (1.0 - s["myo_gray"] / 255.0)
        self._lut = lut
        # Depth/angle gain: TGC residual, element directivity, dropout, rib shadow.
        knots = rng.uniform(-1.0, 1.0, 6) * s["tgc_ripple_db"]
        depths = g.depths_mm()
        ripple = np.interp(depths, np.linspace(0, g.depth_mm, 6), knots)
        ripple -= 8.0 * np.exp(-depths / 12.0)  # near-field suppression
        sig, noi = depth_gain(depths, s["atten_db_cm"], ripple.astype(np.float32))
        gain = sig[:, None] * np.cos(th) ** 2
        thd = np.degrees(th)
        for _ in range(int(rng.integers(1, 4))):
            c, wid = rng.uniform(-0.5, 0.5) * g.angle_deg, rng.uniform(4.0, 12.0)
            r0 = rng.uniform(0.2, 0.6) * g.depth_mm
            band = np.exp(-0.5 * ((thd - c) / wid) ** 2) / (1 + np.exp(-(r - r0) / 6.0))
            gain = gain * (1.0 - s["dropout"] * rng.uniform(0.5, 1.0) * band)
        if self.randomize and rng.uniform() < 0.3:
            c, wid = rng.uniform(-0.5, 0.5) * g.angle_deg, rng.uniform(3.0, 8.0)
            band = 1 / (1 + np.exp(-(np.abs(thd - c) - wid))) * (r > rng.uniform(8.0, 30.0))
            gain = gain * (0.15 + 0.85 * band)
        self._scanner_gain = gain
        self._aim()
        shape = (g.n_samples, g.n_beams)
        # Static near-field clutter; receiver noise after TGC, from a bank shifted each frame.
        prof = 10 ** (s["clutter_db"] / 20.0) * (np.exp(-r / 35.0) + 0.15) * np.cos(th)
        self._clutter = [
            (rng.standard_normal(shape, dtype=np.float32) * prof).astype(np.float32)
            for _ in range(2)
        ]
        noise = (noi[:, None] * 10 ** (s["noise_db"] / 20.0) * math.sqrt(0.5)).astype(np.float32)
        self._noise = [
            rng.standard_normal((shape[0], 4 * shape[1]), dtype=np.float32) * noise
            for _ in range(2)
        ]
        self._blood_shift = rng.uniform(-7.0, 7.0, (1024, 3))
        self._noise_col = rng.integers(0, 3 * shape[1], 1024)

    def _aim(self) -> None:
        """The part that depends on the pose: the phantom sampled along this pose's beams, and the
        septal dropout (which follows the septum on the image)."""
        g, an = self.geom, self.phantom.anatomy
        r = g.depths_mm()[:, None]
        o, a, lat = (
            np.array(v, np.float64) for v in (self.pose.origin, self.pose.axis, self.pose.lateral)
        )
        # Chest wall: everything before the heart along the beam.
        if self.view == "plax":
            near_mm = float(np.linalg.norm(o[:2])) - an.rv_dist - an.rv_radial - 5.0
        else:
            near_mm = max(float(np.linalg.norm(o)) - 3.0, 8.0)
        near = np.broadcast_to(r < near_mm, self._u0.shape)
        self.sampler = PhantomSampler(
            self.phantom, origin=o, lateral=lat, axis=a, u0=self._u0, v0=self._v0, near=near
        )
        gain = self._scanner_gain
        if self.septal_dropout > 0.0:
            labels_t0 = self.sampler.evaluate(self.phantom.state(0.0), (0.0, 0.0, 0.0))[0]
            gain = gain * (1.0 - self.septal_dropout * septum_weight(labels_t0, g))
        self._gain = np.ascontiguousarray(gain, dtype=np.float32)

    def aimed(self, pose: ProbePose) -> EchoSimulator:
        """This scanner and heart imaged from ``pose``: frames equal to those of a new simulator
        built with the same arguments and ``pose=pose``, without rebuilding what the pose does
        not change (speckle, gains, noise). Shares those arrays with ``self`` (read-only)."""
        new = copy.copy(self)
        new.pose, new._pose_json = pose, pose.to_json()
        new._aim()
        return new

    # -- per frame ------------------------------------------------------------------------------
    def render(self, index: int) -> SimFrame:
        """Frame ``index`` (time ``index / fps`` s); a pure function of the index."""
        if index < 0:
            raise ValueError(f"frame index must be >= 0; got {index}")
        t = index / self.fps
        st = self.phantom.state(t)
        k = index % 1024
        sh = self._blood_shift[k]
        labels_b, cls_b, u, v, w = self.sampler.evaluate(
            st, (float(sh[0]), float(sh[1]), float(sh[2]))
        )
        i, q = self.atlas.sample(u, v, w)
        i += self._coherent
        amp = self._lut[cls_b]
        # Specular echoes where an interface faces the beam: a sharp step along the beam that
        # survives lateral smoothing (oblique interfaces smear into ramps).
        ramp = cv2.blur(amp, (5, 1))
        amp[1:] += np.abs(np.diff(ramp, axis=0)) * self._specular
        amp *= self._gain
        c0 = int(self._noise_col[k])
        c1 = c0 + amp.shape[1]
        for plane, clutter, noise in zip((i, q), self._clutter, self._noise, strict=True):
            np.multiply(plane, amp, out=plane)
            np.add(plane, clutter, out=plane)
            np.add(plane, noise[:, c0:c1], out=plane)
        env = envelope(i, q, *self._psf)
        img_b = log_compress(env, self._gain_db, self.settings["dynamic_range_db"])
        image = scan_convert(img_b, self.geom)
        labels = scan_convert(labels_b, self.geom, nearest=True)
        area = float(np.count_nonzero(labels == 1)) * self.geom.spacing_mm**2
        ed, es = self._event_flags(index)
        truth = {
            "t_s": t,
            "phase": st.phase,
            "lv_volume_ml": st.lv_volume_ml,
            "lv_area_mm2": area,
            "ed": ed,
            "es": es,
            "view": self.view,
            "mitral_open": st.mv_open,
            "probe_pose": self._pose_json,
            "spacing_mm": list(self.spacing_mm),
        }
        return SimFrame(index, t, image, labels, truth)

    def _event_flags(self, index: int) -> tuple[bool, bool]:
        """Whether frame ``index`` is the frame nearest an end-diastole / end-systole instant."""
        cy, p0 = self.phantom.cycle, self.phantom.phase0
        flags = []
        for ev in (0.0, cy.es_phase):
            k0 = math.floor(index / self.fps / cy.period_s + p0 - ev)
            hit = any(
                round((k - p0 + ev) * cy.period_s * self.fps) == index
                for k in (k0 - 1, k0, k0 + 1, k0 + 2)
            )
            flags.append(hit)
        return flags[0], flags[1]

    def describe(self) -> dict[str, Any]:
        """Truth for the run: seed, EF, heart rate, volumes, anatomy, settings, pose, geometry."""
        d = self.phantom.describe()
        return {
            "modality": self.modality,
            "seed": self.seed,
            "view": self.view,
            "ef": self.ef,
            "hr_bpm": self.hr_bpm,
            "fps": self.fps,
            "size": list(self.geom.shape),
            "randomize": self.randomize,
            "edv_ml": d.pop("edv_ml"),
            "esv_ml": d.pop("esv_ml"),
            "heart": d,
            "settings": dict(self.settings),
            "randomization_ranges": {k: list(v) for k, v in RANGES.items()},
            "probe_pose": self.pose.to_json(),
            "pose_jitter": [round(float(v), 4) for v in self.pose_jitter],
            "geometry": self.geometry,
            "spacing_mm": list(self.spacing_mm),
            "label_names": list(self.label_names),
        }

    def anatomy(self) -> dict[str, Any]:
        return asdict(self.phantom.anatomy)


# -- documentation panel (cv2 only) ---------------------------------------------------------------
