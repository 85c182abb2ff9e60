"""A second echo renderer, from pulse-echo physics: point scatterers, a beam, a pulse.

The models are trained on :class:`~orstream.sim.EchoSimulator` (a tissue-fixed speckle atlas
blurred by a PSF, with empirical artefacts). This renderer shares only the beating-heart
phantom, the probe pose and the output raster with it and forms the image the way a scanner
does, as in the convolution models of Field II and COLE:

- point scatterers, uniformly random in the imaging plane (``density_mm2`` per mm2), each with a
  circular complex Gaussian amplitude (fresh every frame) scaled by its tissue's backscatter
  (blood about -40 dB below myocardium, bright pericardium and valves);
- two-way frequency-dependent attenuation (``alpha_db_cm_mhz``), partly compensated by TGC;
- per beam, a focused Gaussian beam: lateral width ``lambda * F#`` at the focus, growing with
  distance from it (depth of field ~ 7 lambda F#^2); a Gaussian pulse envelope along the beam
  from the transducer's fractional bandwidth; IQ (baseband) summation, so interference between
  scatterers makes the speckle;
- electronic noise, envelope detection, log compression to the dynamic range, auto gain and
  scan conversion onto the same (H, W) raster as the base simulator.

Labels and truth are the base simulator's (same seed, same anatomy, EF, heart rate, pose).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ._echo import EchoSimulator
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
)
from ._heart_sampler import PhantomSampler
from ._protocol import SimFrame

C_MM_US = 1.54
"""Speed of sound, mm per microsecond."""
BACKSCATTER_DB = {
    CLS_MYO: 0.0,
    CLS_WALL: -3.0,
    CLS_VALVE: 6.0,
    CLS_PERI: 10.0,
    CLS_FAT: -8.0,
    CLS_OUTER: -18.0,
    CLS_CHEST: -2.0,
}
"""Backscatter amplitude (dB re myocardium) per tissue class; blood classes are drawn per run."""


class RfEchoSimulator:
    """Physics-based echo of :class:`EchoSimulator`'s heart (``render(index)`` -> SimFrame).

    ``seed``, ``ef``, ``hr_bpm``, ``view``, ``size``, ``fps``: as the base simulator (the same
    seed gives the same heart, pose and truth). Transducer and tissue settings are drawn per
    seed: centre frequency 1.7-3.5 MHz, fractional bandwidth 0.5-0.8, aperture 14-22 mm, focus
    50-110 mm, attenuation 0.3-0.7 dB/cm/MHz, TGC compensating 60-100 % of it, dynamic range
    50-65 dB, blood -45..-32 dB, electronic noise.
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
        density_mm2: float = 6.0,
    ) -> None:
        self.base = EchoSimulator(seed, ef=ef, hr_bpm=hr_bpm, view=view, size=size, fps=fps)
        self.seed, self.fps, self.view = int(seed), float(fps), view
        self.spacing_mm, self.geometry = self.base.spacing_mm, self.base.geometry
        rng = np.random.default_rng([self.seed, 0x0F1E1D])
        u = rng.uniform
        self.settings = {
            "f0_mhz": u(1.7, 3.5),
            "bandwidth": u(0.5, 0.8),
            "aperture_mm": u(14.0, 22.0),
            "focus_mm": u(50.0, 110.0),
            "alpha_db_cm_mhz": u(0.3, 0.7),
            "tgc_fraction": u(0.6, 1.0),
            "dynamic_range_db": u(50.0, 65.0),
            "blood_db": u(-45.0, -32.0),
            "noise_db": u(-50.0, -38.0),
        }
        s, g = self.settings, self.base.geom
        lam = C_MM_US / s["f0_mhz"]
        self._sigma_r = C_MM_US / (2.0 * s["bandwidth"] * s["f0_mhz"]) / 2.355  # pulse, mm
        self._dr = self._sigma_r / 1.5
        self._n_r = int(g.depth_mm / self._dr) + 1
        half = math.radians(g.angle_deg) / 2
        self._n_beams = max(64, round(g.angle_deg / math.degrees(0.5 * lam / s["aperture_mm"])))
        self._angles = np.linspace(-half, half, self._n_beams)
        self._dtheta = float(self._angles[1] - self._angles[0])
        f_number = s["focus_mm"] / s["aperture_mm"]
        self._w_focus = lam * f_number / 2.355  # lateral sigma at the focus, mm
        self._z_r = 7.0 * lam * f_number**2
        # scatterers uniform in the sector (area element r dr dtheta)
        area = half * g.depth_mm**2
        n = int(density_mm2 * area)
        r = g.depth_mm * np.sqrt(rng.uniform(0.0, 1.0, n))
        th = rng.uniform(-half - 0.05, half + 0.05, n)
        self._r, self._th = r.astype(np.float32), th.astype(np.float32)
        pose = self.base.pose
        origin, axis, lateral = (
            np.array(v, np.float64) for v in (pose.origin, pose.axis, pose.lateral)
        )
        near_mm = max(float(np.linalg.norm(origin)) - 3.0, 8.0)
        if view == "plax":
            an = self.base.phantom.anatomy
            near_mm = float(np.linalg.norm(origin[:2])) - an.rv_dist - an.rv_radial - 5.0
        self.sampler = PhantomSampler(
            self.base.phantom,
            origin=origin,
            lateral=lateral,
            axis=axis,
            u0=(r * np.sin(th)).astype(np.float32)[None],
            v0=(r * np.cos(th)).astype(np.float32)[None],
            near=(r < near_mm)[None],
        )
        lut_db = np.full(N_CLASSES, -20.0)
        for cls, db in BACKSCATTER_DB.items():
            lut_db[cls] = db
        lut_db[[CLS_LV, CLS_RV, CLS_LA, CLS_RA, CLS_AORTA]] = s["blood_db"]
        self._lut = (10.0 ** (lut_db / 20.0)).astype(np.float32)
        # two-way attenuation with partial TGC, per scatterer (fixed positions)
        loss_db = 2.0 * s["alpha_db_cm_mhz"] * s["f0_mhz"] * r / 10.0
        self._atten = (10.0 ** (-(1.0 - s["tgc_fraction"]) * loss_db / 20.0)).astype(np.float32)
        self._width = (
            self._w_focus * np.sqrt(1.0 + ((r - s["focus_mm"]) / self._z_r) ** 2)
        ).astype(np.float32)
        self._kernel = np.exp(-0.5 * (np.arange(-8, 9) * self._dr / self._sigma_r) ** 2)
        self._cell, self._src, self._beam_w = self._beam_weights()
        self._maps = self._scan_maps()

    def _beam_weights(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Any]:
        """What each scatterer gives each beam near it (the scatterers never move): flat
        (sample, beam) cell, scatterer index and lateral beam weight, one entry per pair."""
        r, th, width = self._r, self._th, self._width
        ridx = np.minimum((r / self._dr).astype(np.int64), self._n_r - 1)
        nearest = np.rint((th - self._angles[0]) / self._dtheta).astype(np.int64)
        typical = 3.0 * float(np.median(width)) / (float(np.median(r)) * self._dtheta)
        reach = max(2, min(math.ceil(typical), 6))  # beams either side a scatterer reaches
        cells, srcs, weights = [], [], []
        for k in range(-reach, reach + 1):
            beam = nearest + k
            ok = np.flatnonzero((beam >= 0) & (beam < self._n_beams))
            b = beam[ok]
            d = r[ok] * np.sin(th[ok] - self._angles[b].astype(np.float32))
            cells.append(ridx[ok] * self._n_beams + b)
            srcs.append(ok)
            weights.append(np.exp(-0.5 * (d / width[ok]) ** 2).astype(np.float32))
        return np.concatenate(cells), np.concatenate(srcs), np.concatenate(weights)

    def _scan_maps(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], Any]:
        g = self.base.geom
        h, w = g.shape
        ax, ay = g.apex_px
        x, y = np.meshgrid((np.arange(w) - ax) * g.spacing_mm, (np.arange(h) - ay) * g.spacing_mm)
        r, th = np.hypot(x, y), np.arctan2(x, y)
        inside = (r <= g.depth_mm) & (np.abs(th) <= math.radians(g.angle_deg) / 2) & (y >= 0)
        mx = ((th - self._angles[0]) / self._dtheta).astype(np.float32)
        my = (r / self._dr).astype(np.float32)
        mx[~inside], my[~inside] = -10.0, -10.0
        return mx, my, inside

    def render(self, index: int) -> SimFrame:
        """Frame ``index`` (time ``index / fps`` s): the physics image, the base's labels/truth."""
        truth = self.base.render(index)
        st = self.base.phantom.state(index / self.fps)
        _, cls, _, _, _ = self.sampler.evaluate(st, (0.0, 0.0, 0.0))
        rng = np.random.default_rng([self.seed, index, 0x5CA7])
        n = self._r.size
        amp = self._lut[cls.ravel()] * self._atten
        re = (amp * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
        im = (amp * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
        iq = np.zeros((2, self._n_r * self._n_beams), np.float32)
        for k_plane, part in ((0, re), (1, im)):
            iq[k_plane] = np.bincount(
                self._cell, weights=part[self._src] * self._beam_w, minlength=iq.shape[1]
            )
        kernel = self._kernel.astype(np.float32)[:, None]
        env2 = np.zeros((self._n_r, self._n_beams), np.float32)
        noise = 10.0 ** (self.settings["noise_db"] / 20.0)
        for plane in iq.reshape(2, self._n_r, self._n_beams):
            line = cv2.filter2D(plane, -1, kernel, borderType=cv2.BORDER_CONSTANT)
            line += rng.normal(0.0, noise, line.shape).astype(np.float32)
            env2 += line * line
        env = np.sqrt(env2)
        mx, my, inside = self._maps
        # smooth to the display raster before log compression (a scanner's video filter)
        img = cv2.remap(env, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        ref = 2.0 * float(np.percentile(img[inside], 99.0)) if inside.any() else 1.0  # 6 dB up
        dr = self.settings["dynamic_range_db"]
        db = 20.0 * np.log10(np.maximum(img, 1e-12) / max(ref, 1e-12))
        grey = np.clip((db + dr) / dr, 0.0, 1.0) * 255.0
        grey[~inside] = 0.0
        image = (grey + 0.5).astype(np.uint8)
        return SimFrame(truth.index, truth.t_s, image, truth.labels, truth.truth)

    def describe(self) -> dict[str, Any]:
        """The base simulator's run truth plus this renderer's settings."""
        return {
            **self.base.describe(),
            "renderer": "rf",
            "rf": {k: round(v, 4) for k, v in self.settings.items()},
        }
