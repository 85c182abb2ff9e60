"""Intra-operative ultrasound: a linear-array B-mode simulator for ultrasound-guided nerve blocks.

Per seed: a random anatomy (skin, fat, muscles, a neurovascular bundle with a pulsatile artery, a
compressible vein and honeycomb nerves, maybe a bone with its shadow) and random imaging
settings (gain, dynamic range, speckle size, compounding, focus, TGC, noise); per frame: the
vessels pulse and compress, the probe slides slightly over the tissue, and an in-plane needle
advances, pauses, retracts, injects and withdraws. Same seed and arguments, same frames, bit for
bit (``cv2.setNumThreads`` does not change the result).

Labels: 0 background, 1 nerve, 2 blood vessel, 3 needle (classes 1 and 2 as in the usgra-seg
regional-anaesthesia data set).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from ._protocol import SimFrame
from ._us_anatomy import Anatomy, sample_anatomy
from ._us_bmode import (
    attenuation_cumulative,
    grey_map_lut,
    hash_u64,
    log_compress,
    psf_blur,
    speckle_envelope,
    tgc_gain,
)
from ._us_needle import NeedlePass, render_needle, render_pool, sample_pass
from ._us_settings import sample_imaging, sample_needle_look
from ._us_tissue import Canvas, TissueMaps, rasterize, vessel_frame

if TYPE_CHECKING:
    from ._protocol import Simulator

F32 = npt.NDArray[np.float32]

_N_NOISE = 4
_NOISE_PAD = 64


class UltrasoundSimulator:
    """Linear-array regional-anaesthesia ultrasound with an in-plane needle (:class:`Simulator`).

    ``seed``: the run (anatomy, settings, needle passes); ``fps``: frame rate, Hz; ``size``:
    (H, W) pixels; ``depth_mm``: imaging depth (default drawn 30-50 mm); square pixels of
    ``depth_mm / H`` mm, width ``W`` times that. ``randomize``: draw the scanner settings and the
    needle's echo per seed (False: mid-range values; the anatomy is drawn from the seed either
    way). ``needle``: render the needle. ``speckle``, ``noise``, ``probe_motion``: switch those
    effects off for clean test renders (the anatomy and the needle program do not change).
    ``pass_s``: seconds per needle pass (default drawn 8-14 s).

    Frame truth (JSON-able): ``t_s``; ``needle_tip_px`` [x, y] and ``needle_tip_mm`` [x, y] (x
    from the left image edge, y depth from the skin; pixel centres at ((i + 0.5) * spacing));
    ``needle_entry_px`` (the skin puncture, usually outside the image); ``needle_angle_deg``
    (below horizontal); ``insertion_depth_mm`` (inserted length along the shaft);
    ``needle_tip_depth_mm``; ``needle_visible`` (tip inside the image); ``needle_in_view`` (any
    of the shaft inside); ``needle_contrast`` (shaft amplitude factor 0-1 from the angle);
    ``needle_side``, ``needle_pass``, ``needle_phase`` ("out", "advance", "pause", "retract",
    "hold", "withdraw"); ``injectate_radius_mm``; ``probe_shift_mm``; ``vessels`` and
    ``nerves`` (kind, centre px, semi-axes mm). Needle keys are None with ``needle=False``.
    """

    modality: str = "us"
    label_names: tuple[str, ...] = ("background", "nerve", "vessel", "needle")

    def __init__(
        self,
        seed: int = 0,
        *,
        fps: float = 30.0,
        size: tuple[int, int] = (256, 256),
        depth_mm: float | None = None,
        randomize: bool = True,
        needle: bool = True,
        speckle: bool = True,
        noise: bool = True,
        probe_motion: bool = True,
        pass_s: float | None = None,
    ) -> None:
        if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        seed = int(seed)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
        h, w = size
        if not (32 <= h <= 4096 and 32 <= w <= 4096):
            raise ValueError(f"size must be (H, W) with 32-4096 pixels each, got {size!r}")
        if depth_mm is not None and not (10.0 <= depth_mm <= 120.0):
            raise ValueError(f"depth_mm must be 10-120 mm for a linear probe, got {depth_mm!r}")
        if pass_s is not None and not (3.0 <= pass_s <= 600.0):
            raise ValueError(f"pass_s must be 3-600 s, got {pass_s!r}")
        self.seed, self.fps, self.size = seed, float(fps), (int(h), int(w))
        rng = np.random.default_rng([seed, 0])
        self.depth_mm = float(depth_mm) if depth_mm is not None else float(rng.uniform(30, 50))
        self.pass_s = float(pass_s) if pass_s is not None else float(rng.uniform(8.0, 14.0))
        sp = self.depth_mm / h
        self.spacing_mm = (sp, sp)
        self.width_mm = w * sp
        self.geometry: dict[str, Any] = {
            "kind": "linear",
            "width_mm": round(self.width_mm, 4),
            "depth_mm": round(self.depth_mm, 4),
        }
        self.imaging = sample_imaging(np.random.default_rng([seed, 1]), self.depth_mm, randomize)
        self.look = sample_needle_look(np.random.default_rng([seed, 2]), randomize)
        self.anatomy: Anatomy = sample_anatomy(
            np.random.default_rng([seed, 3]), self.width_mm, self.depth_mm
        )
        self._needle, self._speckle, self._noise_on = needle, speckle, noise
        self._motion = self.imaging.probe_motion_mm if probe_motion else 0.0
        motion_rng = np.random.default_rng([seed, 4])
        self._phases = motion_rng.uniform(0.0, 2.0 * math.pi, 4)
        self._freqs = motion_rng.uniform([0.05, 0.2, 0.2, 0.0], [0.2, 0.5, 0.35, 1.0])
        pad = math.ceil(1.6 * self._motion / sp) + 2
        self._canvas = Canvas(h, w + 2 * pad, pad, sp)
        self._maps: TissueMaps = rasterize(
            np.random.default_rng([seed, 5]),
            self.anatomy,
            self._canvas,
            self.imaging.atten_db_per_mm,
        )
        self._psf = (self.imaging.axial_mm / sp, self.imaging.lateral_mm / sp)
        self._build_base(np.random.default_rng([seed, 6]))
        self._lut = grey_map_lut(self.imaging.grey_gamma)
        self._passes: dict[int, NeedlePass] = {}

    def _build_base(self, rng: np.random.Generator) -> None:
        cv, im, maps = self._canvas, self.imaging, self._maps
        shape = (cv.rows, cv.cols)
        if self._speckle:
            spk = speckle_envelope(
                rng,
                shape,
                self._psf[0],
                self._psf[1],
                focus_row=im.focus_mm / cv.spacing_mm,
                defocus_gain=im.defocus,
                looks=im.speckle_looks,
                contrast=im.speckle_contrast,
            )
        else:
            spk = np.ones(shape, np.float32)
        base = psf_blur(maps.diffuse, *self._psf) * spk
        base += psf_blur(maps.specular, *self._psf) * (0.4 + 0.6 * spk)
        through = np.exp(-attenuation_cumulative(maps.atten)).astype(np.float32)
        base *= through
        self._base: F32 = base.astype(np.float32)
        self._tgc = tgc_gain(
            cv.rows, cv.spacing_mm, im.atten_db_per_mm, im.tgc_compensation, im.near_db
        )
        h, w = self.size
        if self._noise_on:
            level = 10.0 ** ((im.gain_db - im.dynamic_range_db + im.noise_db) / 20.0)
            level /= float(self._tgc[-1, 0])
            z = rng.standard_normal((_N_NOISE, 2, h, w + _NOISE_PAD), dtype=np.float32)
            bank = []
            for k in range(_N_NOISE):
                re, im_ = (
                    cv2.GaussianBlur(z[k, j], (0, 0), sigmaX=1.0, sigmaY=0.6) for j in range(2)
                )
                n = cv2.magnitude(re, im_)
                bank.append(n * np.float32(level / float(n.mean())) * self._tgc)
            self._noise_bank: F32 = np.stack(bank).astype(np.float32)
        # the needle's echo: attenuated on its way like the tissue's, and speckle-modulated
        crop = (slice(0, h), slice(cv.pad_px, cv.pad_px + w))
        self._mod = ((0.55 + 0.45 * spk[crop]) * through[crop]).astype(np.float32)

    def _pass(self, k: int) -> NeedlePass:
        p = self._passes.get(k)
        if p is None:
            if len(self._passes) > 256:
                self._passes.clear()
            p = sample_pass(
                self.seed,
                k,
                anatomy=self.anatomy,
                width_mm=self.width_mm,
                depth_mm=self.depth_mm,
                pass_s=self.pass_s,
            )
            self._passes[k] = p
        return p

    def render(self, index: int) -> SimFrame:
        """Frame ``index`` (>= 0) at ``index / fps`` s: image (H, W) uint8, labels (H, W) uint8."""
        if not isinstance(index, int | np.integer) or index < 0:
            raise ValueError(f"frame index must be a non-negative integer, got {index!r}")
        index = int(index)
        t = index / self.fps
        cv, an = self._canvas, self.anatomy
        h, w = self.size
        sp = cv.spacing_mm
        amp = self._base.copy()
        lab = self._maps.labels.copy()
        pressure = 0.5 - 0.5 * math.cos(2 * math.pi * an.pressure_hz * t + self._phases[0])
        for p in self._maps.vessels:
            scale, squash = p.vessel.scale_squash(t, an.heart_hz, pressure)
            factor, datt, mask = vessel_frame(p, scale, squash)
            sub = amp[p.r0 : p.r1, p.c0 : p.c1]
            cum = np.cumsum(datt, axis=0)
            sub *= factor * np.exp(datt - cum)
            amp[p.r1 :, p.c0 : p.c1] *= np.exp(-cum[-1])[None, :]
            lab[p.r0 : p.r1, p.c0 : p.c1][mask] = 2
        a, f = self._phases, self._freqs
        shift_mm = (
            self._motion
            * (
                math.sin(2 * math.pi * f[0] * t + a[1])
                + 0.4 * math.sin(2 * math.pi * f[1] * t + a[2])
            )
            / 1.4
        )
        sy = 1.0 + 0.006 * math.sin(2 * math.pi * f[2] * t + a[3]) * (self._motion > 0)
        m = np.array([[1, 0, cv.pad_px + shift_mm / sp], [0, sy, 0.5 * (sy - 1)]], np.float32)
        flags = cv2.WARP_INVERSE_MAP
        img = np.asarray(
            cv2.warpAffine(
                amp, m, (w, h), flags=cv2.INTER_LINEAR | flags, borderMode=cv2.BORDER_REPLICATE
            ),
            np.float32,
        )
        labels = np.asarray(
            cv2.warpAffine(
                lab, m, (w, h), flags=cv2.INTER_NEAREST | flags, borderMode=cv2.BORDER_REPLICATE
            ),
            np.uint8,
        )
        truth = self._needle_truth(t, img, labels) if self._needle else self._no_needle()
        img *= self._tgc
        if self._noise_on:
            hsh = hash_u64(self.seed, index)
            off = int(hsh % _NOISE_PAD)
            img += self._noise_bank[(hsh >> 8) % _N_NOISE, :, off : off + w]
        else:
            img += np.float32(1e-4)
        image = log_compress(img, self.imaging.gain_db, self.imaging.dynamic_range_db, self._lut)
        truth = {
            "t_s": t,
            **truth,
            "probe_shift_mm": round(shift_mm, 4),
            **self._structures(t, shift_mm, sy, pressure),
        }
        return SimFrame(index=index, t_s=t, image=image, labels=labels, truth=truth)

    def _no_needle(self) -> dict[str, Any]:
        keys = (
            "needle_tip_px",
            "needle_tip_mm",
            "needle_entry_px",
            "needle_angle_deg",
            "insertion_depth_mm",
            "needle_tip_depth_mm",
            "needle_contrast",
            "needle_side",
            "needle_pass",
            "needle_phase",
        )
        return {
            **dict.fromkeys(keys),
            "needle_visible": False,
            "needle_in_view": False,
            "injectate_radius_mm": 0.0,
        }

    def _needle_truth(self, t: float, img: F32, labels: npt.NDArray[np.uint8]) -> dict[str, Any]:
        k = int(t // self.pass_s)
        ps = self._pass(k)
        tau = t - k * self.pass_s
        sp = self.spacing_mm[0]
        tip = ps.tip_mm(tau)
        length = ps.length_at(tau)
        tip_px = (tip[0] / sp - 0.5, tip[1] / sp - 0.5)
        entry_px = (ps.entry_mm[0] / sp - 0.5, ps.entry_mm[1] / sp - 0.5)
        radius = 0.0
        if ps.inject_mm > 0 and tau >= ps.hold_s[0]:
            grow = min((tau - ps.hold_s[0]) / max(ps.hold_s[1] - ps.hold_s[0], 1e-3), 1.0)
            radius = ps.inject_mm * math.sqrt(grow)
            centre = ps.tip_mm(ps.hold_s[0])
            render_pool(
                img,
                labels,
                (centre[0] / sp - 0.5, centre[1] / sp - 0.5),
                radius / sp,
                angle_deg=ps.angle_deg if ps.side == "left" else -ps.angle_deg,
                shape_rad=ps.inject_shape_rad,
            )
        in_view = length > 0 and render_needle(
            img,
            labels,
            entry_px=entry_px,
            tip_px=tip_px,
            angle_deg=ps.angle_deg,
            look=self.look,
            spacing_mm=sp,
            psf_px=self._psf,
            modulation=self._mod,
        )
        h, w = self.size
        visible = bool(in_view and -0.5 <= tip_px[0] < w - 0.5 and -0.5 <= tip_px[1] < h - 0.5)
        return {
            "needle_tip_px": [round(tip_px[0], 3), round(tip_px[1], 3)],
            "needle_tip_mm": [round(tip[0], 4), round(tip[1], 4)],
            "needle_entry_px": [round(entry_px[0], 3), round(entry_px[1], 3)],
            "needle_angle_deg": round(ps.angle_deg, 4),
            "insertion_depth_mm": round(length, 4),
            "needle_tip_depth_mm": round(tip[1], 4),
            "needle_visible": visible,
            "needle_in_view": bool(in_view),
            "needle_contrast": round(math.exp(-((ps.angle_deg / self.look.falloff_deg) ** 2)), 4),
            "needle_side": ps.side,
            "needle_pass": k,
            "needle_phase": ps.phase_at(tau),
            "injectate_radius_mm": round(radius, 4),
        }

    def _structures(self, t: float, shift_mm: float, sy: float, pressure: float) -> dict[str, Any]:
        sp = self.spacing_mm[0]
        an = self.anatomy

        def px(c: tuple[float, float]) -> list[float]:
            x = c[0] / sp - 0.5 - shift_mm / sp
            y = (c[1] / sp - 0.5 - 0.5 * (sy - 1)) / sy
            return [round(x, 3), round(y, 3)]

        vessels = []
        for v in an.vessels:
            scale, squash = v.scale_squash(t, an.heart_hz, pressure)
            axes = [
                round(v.semi_axes_mm[0] * scale, 4),
                round(v.semi_axes_mm[1] * scale * squash, 4),
            ]
            vessels.append({"kind": v.kind, "center_px": px(v.center_mm), "semi_axes_mm": axes})
        nerves = [
            {"center_px": px(n.center_mm), "semi_axes_mm": list(n.semi_axes_mm)} for n in an.nerves
        ]
        return {"vessels": vessels, "nerves": nerves}

    def describe(self) -> dict[str, Any]:
        """JSON-able description of the run: seed, geometry, settings, anatomy, needle."""
        return {
            "modality": self.modality,
            "seed": self.seed,
            "fps": self.fps,
            "size": list(self.size),
            "depth_mm": round(self.depth_mm, 4),
            "width_mm": round(self.width_mm, 4),
            "spacing_mm": list(self.spacing_mm),
            "geometry": dict(self.geometry),
            "label_names": list(self.label_names),
            "imaging": {k: round(v, 4) for k, v in asdict(self.imaging).items()},
            "anatomy": self.anatomy.to_json(),
            "needle": {
                "enabled": self._needle,
                "pass_s": round(self.pass_s, 4),
                **{
                    k: round(v, 4) if isinstance(v, float) else v
                    for k, v in asdict(self.look).items()
                },
            },
            "effects": {
                "speckle": self._speckle,
                "noise": self._noise_on,
                "probe_motion": self._motion > 0,
            },
        }


if TYPE_CHECKING:  # mypy checks that the class satisfies the protocol

    def _is_simulator(sim: UltrasoundSimulator) -> Simulator:
        return sim
