"""Fluoroscopy simulator: vessels, contrast, a catheter, breathing and heartbeat, X-ray physics.

Per frame: attenuation line integrals (body + iodine in the opacified lumen + catheter and its
radiopaque tip) -> Beer-Lambert primary (dose, vignetting, collimation) -> scatter (low-pass
fraction) -> Poisson quantum noise -> log (or linear) detector response -> uint16. Display
convention: dense is dark (few photons, low values).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ._catheter import (
    FixedTrack,
    arc_length,
    field_suffix_px,
    load_real_centerlines,
    path_track,
    real_track,
    resample,
)
from ._data import data_path
from ._fluoro_body import (
    BANK_PAD,
    F32,
    F64,
    U8,
    as_f32,
    gain_map,
    noise_bank,
    paint_background,
    respond,
)
from ._fluoro_catheter import draw_catheter
from ._fluoro_motion import ContrastSchedule, Physiology
from ._fluoro_physics import FluoroPhysics, check_settings
from ._protocol import SimFrame
from ._vessels import (
    ANATOMIES,
    MAG,
    REF_SIZE,
    SDD_MM,
    SOD_MM,
    SPACING_MM,
    VesselTree,
    catheter_route,
    centerline_distance,
    load_hepatic_tree,
    rasterize,
)
from ._vessels_procedural import procedural_tree

DATASET = ("catheter-centerlines", "dataset1")


class FluoroSimulator:
    """X-ray fluoroscopy of a catheterization: ``render(index)`` -> :class:`SimFrame`.

    ``image``: (H, W) uint16, log detector response by default (dense = dark). ``labels``:
    (H, W) uint8, 0 background, 1 catheter (tip marker included), 2 vessel: with
    ``vessel_label="lumen"`` (default) every lumen pixel of the tree, opacified or not; with
    "opacified" only lumen holding iodine (fill >= 0.3); all 0 behind the collimator. Pixel
    (x, y) = (column, row), centres at integer coordinates; mm = px * ``spacing_mm`` (at the
    detector; ``geometry`` gives source-image and source-object distances).

    ``anatomy``: "hepatic" (the real 3D hepatic tree from ``ORSTREAM_DATA``'s
    catheter-centerlines when present, a procedural one otherwise), "arch", "coronary", or
    "random" (drawn by seed). ``use_real_centerlines``: play the 74 real traced catheter shapes
    (hepatic only; default: when the data are present and no ``tree`` is given). ``dose``:
    photons per pixel behind the median background pixel (what dose-rate control holds).
    ``noise``: "fast" (Gaussian approximation of the Poisson law, from a seeded noise bank),
    "poisson" (exact, slower) or "none". ``randomize``: seed-driven scene jitter, physiology
    and timing (else nominal).
    ``physics``: the X-ray constants (:class:`FluoroPhysics`; default: its defaults).
    ``breath_hold`` and ``contrast=False``: no breathing, no injections (navigation under a
    stored roadmap); :meth:`set_catheter` puts the catheter instead of its own motion.
    ``tree``: draw this vessel tree (reference-view px, as the anatomy's own) instead of the
    anatomy's; ``anatomy`` then sets the look (spacing, background, heart motion) only, and the
    catheter lies still on the tree's access route until :meth:`set_catheter` moves it.
    One instance renders one frame at a time (it reuses work buffers): one per thread.
    """

    modality = "fluoro"
    label_names = ("background", "catheter", "vessel")

    def __init__(
        self,
        seed: int = 0,
        *,
        fps: float = 15.0,
        size: tuple[int, int] = (1024, 1024),
        dose: float = 200.0,
        anatomy: str = "hepatic",
        use_real_centerlines: bool | None = None,
        randomize: bool = True,
        noise: str = "fast",
        response: str = "log",
        collimation: str = "circle",
        vessel_label: str = "lumen",
        physics: FluoroPhysics | None = None,
        breath_hold: bool = False,
        contrast: bool = True,
        tree: VesselTree | None = None,
    ) -> None:
        check_settings(fps, size, dose, noise, response, collimation, vessel_label)
        self.physics = FluoroPhysics() if physics is None else physics
        self.seed, self.fps, self.dose = int(seed), float(fps), float(dose)
        self.randomize, self.noise, self.response = randomize, noise, response
        self.collimation, self.vessel_label, self.contrast = collimation, vessel_label, contrast
        rng = np.random.default_rng([self.seed, 0xF1])
        if anatomy == "random":
            anatomy = str(rng.choice(ANATOMIES))
        if anatomy not in ANATOMIES:
            raise ValueError(f"anatomy must be one of {ANATOMIES} or 'random', got {anatomy!r}")
        dataset = data_path(*DATASET) if anatomy == "hepatic" else None
        # by default the traced shapes play on the real tree only (they follow no other)
        default_real = dataset is not None and tree is None
        real = default_real if use_real_centerlines is None else use_real_centerlines
        if real and dataset is None:
            raise ValueError(
                "use_real_centerlines=True needs anatomy='hepatic' and the real data "
                "(set ORSTREAM_DATA to the folder holding catheter-centerlines/)"
            )
        self.anatomy, self.use_real_centerlines, self.dataset = anatomy, real, dataset
        h, w = self.size = (int(size[0]), int(size[1]))
        zoom = min(h, w) / REF_SIZE
        sp = SPACING_MM[anatomy] / zoom
        self.spacing_mm = (sp, sp)
        self.geometry: dict[str, Any] = {
            "kind": "projection",
            "sid_mm": SDD_MM,
            "sod_mm": SOD_MM,
            "lao_deg": -27.9 if dataset else 0.0,
            "cran_deg": -0.28 if dataset else 0.0,
        }
        u = rng.uniform if randomize else (lambda lo, hi: 0.5 * (lo + hi))
        ang, scl = math.radians(u(-4, 4)), zoom * u(0.96, 1.04)
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]]) * scl
        ctr = np.array([REF_SIZE / 2 + u(-20, 20), REF_SIZE / 2 + u(-20, 20)])
        self._scene = np.c_[rot, np.array([w / 2, h / 2]) - rot @ ctr]
        heart = {"hepatic": (0.4, 0.0), "arch": (1.2, 0.0), "coronary": (2.5, 0.07)}[anatomy]
        cx, cy = self._scene @ [600.0, 650.0, 1.0]
        breath_period_s, breath_mm = u(3.4, 5.0), u(3.0, 8.0)  # drawn either way: same scene
        self._physio = Physiology(
            breath_period_s,
            0.0 if breath_hold else breath_mm,
            u(0, 1),
            60 / u(60, 90),
            u(0, 1),
            heart[0],
            heart[1],
            (float(cx), float(cy)),
            MAG / sp,
        )
        self._contrast = ContrastSchedule(u(10, 16), u(1.0, 4.0), u(2.5, 4.0))
        if tree is not None:
            at_rest = tree
        else:
            at_rest = load_hepatic_tree(dataset) if dataset else procedural_tree(anatomy, rng)
        self.tree = at_rest.transformed(self._scene)
        margin = int(self._physio.breath_mm * MAG / sp * 1.2 + 0.1 * max(h, w) * heart[1] + 8)
        self._raster = rasterize(self.tree, (w, h), sp / MAG, margin)
        motion = {
            "speed_mod": u(0.3, 0.9),
            "speed_period_s": u(2.0, 5.0),
            "phase": u(0, 2 * math.pi),
        }
        if real and dataset is not None:
            shapes = load_real_centerlines(dataset / "fluoro" / "centerlines")
            track = real_track(shapes, 2.0, 500.0, u(4.0, 8.0), start=u(0, 70), **motion)
            # the traced catheter breathes, the 3D tree (registered on frame 0) does not: lay
            # each shape on the tree's centerlines; our breathing then moves both together
            dist = centerline_distance(self.tree, (w, h))
            self._track = track.transformed(self._scene).aligned(dist, round(12 * zoom))
        elif tree is not None:
            # no motion of its own: it waits on the access route for set_catheter
            self.set_catheter(self.tree.entry[::-1])
        else:
            route = catheter_route(self.tree, (w, h), rng if randomize else None)
            field = 0.45 * min(h, w)
            travel = min(
                0.45 * float(arc_length(route)[-1]),
                field_suffix_px(resample(route, 2.0), np.array([w / 2, h / 2]), field),
            )
            self._track = path_track(
                route, 2.0 * zoom, 48, travel, u(4.0, 8.0), start=u(0, 47), **motion
            )
        r_mm = {"hepatic": (0.45, 0.75), "arch": (0.7, 1.0), "coronary": (0.3, 0.45)}[anatomy]
        self.catheter_radius_mm, self.marker_mm = u(*r_mm), u(2.0, 4.0)
        self._bg_static, self._bg_moving = paint_background(anatomy, rng, self._scene, (h, w))
        self._gain, self._field = gain_map(
            (h, w), collimation, dose, u, scatter_to_primary=self.physics.scatter_to_primary
        )
        self._bank = noise_bank(rng, (h, w)) if noise == "fast" else None
        self._arrivals: dict[int, tuple[F32, float]] = {}
        crop = self._raster.chord_mm.shape
        self._iod = np.zeros(crop, np.float32)  # iodine line integrals, crop at rest
        self._opac = np.zeros(crop, np.uint8)  # opacified lumen, crop at rest
        # work buffers reused frame after frame (fresh 4 MB arrays cost page faults): one
        # simulator renders one frame at a time (use one simulator per thread)
        self._work = {n: np.empty((h, w), np.float32) for n in ("neg", "prim", "scat", "sd")}
        self._moved = (np.empty(crop, np.float32), np.empty(crop, np.uint8))

    def set_catheter(self, points_px: F64) -> None:
        """Draw the catheter along ``points_px`` ((N, 2) px at rest, tip first, N >= 2) in
        every frame rendered from now on, instead of the simulator's own catheter motion."""
        points = np.asarray(points_px, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] < 2 or points.shape[1] != 2:
            raise ValueError(f"catheter points must be (N >= 2, 2) px, got {points.shape}")
        self._track = FixedTrack(resample(points, FixedTrack.step_px))  # type: ignore[assignment]

    def describe(self) -> dict[str, Any]:
        """JSON-able run truth: settings, physiology, contrast timing, vessel graph at rest (px)."""
        p, c = self._physio, self._contrast
        return {
            "modality": self.modality,
            "seed": self.seed,
            "fps": self.fps,
            "size": list(self.size),
            "spacing_mm": list(self.spacing_mm),
            "geometry": self.geometry,
            "anatomy": self.anatomy,
            "dose_photons_per_px": self.dose,
            "noise": self.noise,
            "response": self.response,
            "collimation": self.collimation,
            "use_real_centerlines": self.use_real_centerlines,
            "real_data": None
            if self.dataset is None
            else (
                "catheter-centerlines/dataset1: pambros/HMM-3D-Catheter-Tip-Tracking (Ambrosini "
                "et al., IEEE TMI 2017), BSD-3-Clause"
            ),
            "breathing_period_s": p.breath_period_s,
            "breathing_amplitude_mm": p.breath_mm,
            "heart_rate_bpm": 60.0 / p.heart_period_s,
            "contrast": None
            if not self.contrast
            else {
                "period_s": c.period_s,
                "first_injection_s": c.start_s,
                "injection_s": c.inject_s,
            },
            "catheter": {"radius_mm": self.catheter_radius_mm, "tip_marker_mm": self.marker_mm},
            "label_names": list(self.label_names),
            "vessel_label": self.vessel_label,
            "vessel_graph": self.tree.graph(),
        }

    def render(self, index: int) -> SimFrame:
        """Frame ``index`` at ``index / fps`` s; any index, in any order, same bits every time.

        ``truth``: t_s; tip_px [x, y] and tip_mm (px x spacing, from the top-left pixel's
        centre); catheter_px (tip first, every ~2 px until it leaves the image); contrast_level
        (mean iodine fill 0..1 of the injected tree) and contrast_phase ("none", "wash-in",
        "peak", "wash-out"); breathing_phase and cardiac_phase (0..1); motion_px (2x3 affine,
        rest -> this frame, as in ``describe()["vessel_graph"]``).
        """
        if index < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        t = index / self.fps
        h, w = self.size
        m = self._physio.matrix(t)
        labels = np.zeros((h, w), dtype=np.uint8)
        bx, by = self._physio.breath_px(t) / 2
        half = cv2.warpAffine(
            self._bg_moving,
            np.array([[1, 0, bx], [0, 1, by]]),
            self._bg_moving.shape[::-1],
            borderMode=cv2.BORDER_REFLECT,
        )
        neg = as_f32(cv2.resize(cv2.add(half, self._bg_static), (w, h), dst=self._work["neg"]))
        level, phase = self._vessels(t, m, neg, labels)
        pts = self._track.at(t) @ m[:, :2].T + m[:, 2]
        px_per_mm = self._physio.px_per_mm
        draw_catheter(
            pts,
            neg,
            labels,
            thick_px=max(1, round(2 * self.catheter_radius_mm * px_per_mm)),
            marker_px=self.marker_mm * px_per_mm,
            mu=(self.physics.catheter_mu, self.physics.marker_mu),
        )
        np.multiply(labels, self._field, out=labels)  # nothing is seen behind the collimator
        counts = self._detector(neg, np.random.default_rng([self.seed, int(index), 0xF2]))
        inside = np.all((pts >= -0.5) & (pts <= [w - 0.5, h - 0.5]), axis=1)
        n_in = len(pts) if inside.all() else max(int(np.argmin(inside)), 1)
        tip, sp = pts[0], self.spacing_mm
        bph, cph = self._physio.phases(t)
        truth = {
            "t_s": t,
            "tip_px": [float(tip[0]), float(tip[1])],
            "tip_mm": [float(tip[0] * sp[1]), float(tip[1] * sp[0])],
            "catheter_px": np.round(pts[:n_in], 2).tolist(),
            "contrast_level": level,
            "contrast_phase": phase,
            "breathing_phase": bph,
            "cardiac_phase": cph,
            "motion_px": np.round(m, 5).tolist(),
        }
        image = respond(counts, self.dose, self.response, window=self.physics.log_window)
        return SimFrame(int(index), t, image, labels, truth)

    def _arrival(self, k: int) -> tuple[F32, float]:
        """Per-lumen-pixel arrival distance (mm) for injection ``k``, and the tree's reach (mm).

        Hepatic: a selective injection from the catheter 15 mm behind its tip, backed up to a
        branch feeding >= 10 % of the tree (only the tree downstream fills, not the aorta);
        arch and coronary: from the tree's root (pigtail, ostium).
        """
        if k not in self._arrivals:
            tree, source = self.tree, self.tree.root
            if self.anatomy == "hepatic":
                chain = self._track.at(k * self._contrast.period_s + self._contrast.start_s)
                j = round(15.0 * self._physio.px_per_mm / self._track.step_px)
                back = chain[min(len(chain) - 1, j)]
                source = int(np.argmin(np.linalg.norm(tree.nodes - back, axis=1)))
                par, sizes = tree.parents(), tree.subtree_sizes()
                while (
                    sizes[source] < 0.1 * len(sizes)
                    and par[source] >= 0
                    and tree.radius[par[source]] < 1.8 * tree.radius[source]
                ):
                    source = int(par[source])  # back up to a lobar branch, not into the aorta
            node = tree.downstream_mm(source, self.spacing_mm[0] / MAG)
            e, u = tree.edges[self._raster.seg], self._raster.u
            arr = (node[e[:, 0]] * (1 - u) + node[e[:, 1]] * u).astype(np.float32)
            self._arrivals = {k: (arr, float(node[node < 1e8].max()))}
        return self._arrivals[k]

    def _vessels(self, t: float, m: F64, neg: F32, labels: U8) -> tuple[float, str]:
        """Subtract iodine line integrals from ``neg``; mark the lumen (2) in ``labels``."""
        r, (h, w) = self._raster, self.size
        ch, cw = r.chord_mm.shape
        k, tc = self._contrast.cycle(t) if self.contrast else (-1, 0.0)
        fill: F32 | None = None
        phase, level = "none", 0.0
        if k >= 0:
            arr, reach = self._arrival(k)
            phase = self._contrast.phase(tc, reach)
            if phase != "none":
                fill = self._contrast.fill(tc, arr)
                level = float(fill.sum()) / max(1, int(np.count_nonzero(arr < 1e8)))
        x0, y0 = max(r.origin[0], 0), max(r.origin[1], 0)
        x1, y1 = min(r.origin[0] + cw, w), min(r.origin[1] + ch, h)
        # crop at rest -> image window [y0:y1, x0:x1] at time t
        o, ow = np.array(r.origin, dtype=np.float64), np.array([x0, y0], dtype=np.float64)
        mc = np.c_[m[:, :2], m[:, :2] @ o + m[:, 2] - ow]
        size = (x1 - x0, y1 - y0)
        if fill is not None:  # lumen pixels are the same every frame: the rest stays 0
            self._iod.flat[r.idx] = (
                self.physics.mu_iodine_per_mm[self.anatomy] * fill
            ) * r.chord_at
            iod = self._moved[0][: size[1], : size[0]]
            cv2.warpAffine(self._iod, mc, size, dst=iod, flags=cv2.INTER_LINEAR)
            cv2.subtract(neg[y0:y1, x0:x1], iod, dst=neg[y0:y1, x0:x1])
        mask = r.mask
        if self.vessel_label == "opacified":
            mask = self._opac
            mask.flat[r.idx] = False if fill is None else fill >= 0.3
        dx, dy = np.round(mc[:, 2]).astype(int)
        if (
            np.array_equal(mc[:, :2], np.eye(2))
            and min(-dx, -dy) >= 0
            and size[1] - dy <= ch
            and size[0] - dx <= cw
        ):  # a shift: slice, no warp
            lab = mask[-dy : size[1] - dy, -dx : size[0] - dx]
        else:
            lab = self._moved[1][: size[1], : size[0]]
            cv2.warpAffine(mask, mc, size, dst=lab, flags=cv2.INTER_NEAREST)
        np.left_shift(lab, 1, out=labels[y0:y1, x0:x1])
        return round(level, 4), phase

    def _detector(self, neg: F32, rng: np.random.Generator) -> F32:
        """Photon counts (H, W) float32: primary exp(-A) x gain, + low-pass scatter, + noise."""
        h, w = self.size
        prim, scat, sd = self._work["prim"], self._work["scat"], self._work["sd"]
        cv2.multiply(cv2.exp(neg, dst=prim), self._gain, dst=prim)
        small = cv2.resize(prim, (64, 64), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 6.0, borderType=cv2.BORDER_REPLICATE)
        cv2.resize(small, (w, h), dst=scat, interpolation=cv2.INTER_LINEAR)
        scatter = self.physics.scatter_to_primary
        total = as_f32(cv2.scaleAdd(scat, scatter, prim, dst=neg))  # neg is spent
        if self.noise == "poisson":
            return rng.poisson(total).astype(np.float32)
        if self._bank is None:
            return total
        k, dy, dx = (int(v) for v in rng.integers(0, [2, BANK_PAD, BANK_PAD]))
        cv2.sqrt(total, dst=sd)
        np.multiply(sd, self._bank[k, dy : dy + h, dx : dx + w], out=sd)
        return as_f32(cv2.add(total, sd, dst=total))
