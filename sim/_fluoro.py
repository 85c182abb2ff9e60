"""Fluoroscopy simulator: vessels, contrast, a catheter, breathing and heartbeat, X-ray physics.

Per frame: attenuation line integrals (body + iodine in the opacified lumen + catheter and its
radiopaque tip) -> Beer-Lambert primary (dose, vignetting, collimation) -> scatter (low-pass
fraction) -> Poisson quantum noise -> log (or linear) detector response -> uint16. Display
convention: dense is dark (few photons, low values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ._catheter import (
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
    SCATTER_TO_PRIMARY,
    U8,
    as_f32,
    gain_map,
    noise_bank,
    paint_background,
    respond,
)
from ._protocol import SimFrame
from ._vessels import (
    ANATOMIES,
    MAG,
    REF_SIZE,
    SDD_MM,
    SOD_MM,
    SPACING_MM,
    catheter_route,
    centerline_distance,
    load_hepatic_tree,
    procedural_tree,
    rasterize,
)

MU_IODINE_PER_MM = {"hepatic": 0.25, "coronary": 0.2, "arch": 0.06}
"""Iodine attenuation at full fill, per mm of lumen chord (diluted most in the aorta)."""
CATHETER_MU, MARKER_MU = 0.35, 1.6
"""Line integrals across the catheter body's axis and across the radiopaque tip marker."""
DATASET = ("catheter-centerlines", "dataset1")


@dataclass(frozen=True)
class _Physio:
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
class _Contrast:
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
    (hepatic only; default: when the data are present). ``dose``: photons per pixel behind the
    median background pixel (what dose-rate control holds). ``noise``: "fast" (Gaussian
    approximation of the Poisson law, from a seeded noise bank), "poisson" (exact, slower) or
    "none". ``randomize``: seed-driven scene jitter, physiology and timing (else nominal).
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
    ) -> None:
        _check(fps, size, dose, noise, response, collimation, vessel_label)
        self.seed, self.fps, self.dose = int(seed), float(fps), float(dose)
        self.randomize, self.noise, self.response = randomize, noise, response
        self.collimation, self.vessel_label = collimation, vessel_label
        rng = np.random.default_rng([self.seed, 0xF1])
        if anatomy == "random":
            anatomy = str(rng.choice(ANATOMIES))
        if anatomy not in ANATOMIES:
            raise ValueError(f"anatomy must be one of {ANATOMIES} or 'random', got {anatomy!r}")
        dataset = data_path(*DATASET) if anatomy == "hepatic" else None
        real = dataset is not None if use_real_centerlines is None else use_real_centerlines
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
        self._physio = _Physio(
            u(3.4, 5.0),
            u(3.0, 8.0),
            u(0, 1),
            60 / u(60, 90),
            u(0, 1),
            heart[0],
            heart[1],
            (float(cx), float(cy)),
            MAG / sp,
        )
        self._contrast = _Contrast(u(10, 16), u(1.0, 4.0), u(2.5, 4.0))
        tree = load_hepatic_tree(dataset) if dataset else procedural_tree(anatomy, rng)
        self.tree = tree.transformed(self._scene)
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
        self._gain, self._field = gain_map((h, w), collimation, dose, u)
        self._bank = noise_bank(rng, (h, w)) if noise == "fast" else None
        self._arrivals: dict[int, tuple[F32, float]] = {}
        crop = self._raster.chord_mm.shape
        self._iod = np.zeros(crop, np.float32)  # iodine line integrals, crop at rest
        self._opac = np.zeros(crop, np.uint8)  # opacified lumen, crop at rest
        # work buffers reused frame after frame (fresh 4 MB arrays cost page faults): one
        # simulator renders one frame at a time (use one simulator per thread)
        self._work = {n: np.empty((h, w), np.float32) for n in ("neg", "prim", "scat", "sd")}
        self._moved = (np.empty(crop, np.float32), np.empty(crop, np.uint8))

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
            "contrast": {
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
        self._catheter(pts, neg, labels)
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
        return SimFrame(int(index), t, respond(counts, self.dose, self.response), labels, truth)

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
        k, tc = self._contrast.cycle(t)
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
            self._iod.flat[r.idx] = (MU_IODINE_PER_MM[self.anatomy] * fill) * r.chord_at
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

    def _catheter(self, pts: F64, neg: F32, labels: U8) -> None:
        """Subtract the catheter body, then its tip marker, from ``neg``; label them 1.

        The end is an anti-aliased convex polygon, a half disc whose apex is the tip; the lines
        behind it (whose round caps reach ~0.7 px past their ends) start 1 px further back.
        Label: >= 50 % pixel coverage for the body, >= 25 % for the marker (the tip's pixel).
        """
        h, w = self.size
        thick = max(1, round(2 * self.catheter_radius_mm * self._physio.px_per_mm))
        r, s = thick / 2, arc_length(pts)

        def at(v: float) -> F64:
            return np.array([np.interp(v, s, pts[:, 0]), np.interp(v, s, pts[:, 1])])

        d = pts[0] - at(r)
        d /= max(float(np.linalg.norm(d)), 1e-9)
        n, c = np.array([-d[1], d[0]]), pts[0] - r * d
        th = np.linspace(-np.pi / 2, np.pi / 2, 13)[:, None]
        q = max(r - 0.5, 0.25)  # OpenCV's anti-aliased polygons come out ~0.5 px fatter
        end = np.vstack(
            [
                c - (r + 1.5) * d - q * n,
                c + q * (np.cos(th) * d + np.sin(th) * n),
                c - (r + 1.5) * d + q * n,
            ]
        )
        body = np.vstack([at(r + 1.0), pts[s > r + 1.0]])
        marker = body[: max(2, int(np.sum(s <= self.marker_mm * self._physio.px_per_mm)))]
        for part, mu, cover in ((body, CATHETER_MU, 128), (marker, MARKER_MU, 64)):
            lo = np.maximum(np.floor(np.vstack([part, end]).min(0) - thick), 0).astype(int)
            hi = np.minimum(np.ceil(part.max(0) + thick), [w - 1, h - 1]).astype(int)
            if np.any(hi < lo):
                continue
            canvas = np.zeros((hi[1] - lo[1] + 1, hi[0] - lo[0] + 1), dtype=np.uint8)
            fixed = np.round((part - lo) * 16).astype(np.int32)
            cv2.polylines(canvas, [fixed], False, 255, thick, cv2.LINE_AA, 4)
            cv2.fillConvexPoly(
                canvas, np.round((end - lo) * 16).astype(np.int32), 255, cv2.LINE_AA, 4
            )
            roi = neg[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
            cv2.scaleAdd(canvas.astype(np.float32), -mu / 255.0, roi, dst=roi)
            labels[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1][canvas >= cover] = 1

    def _detector(self, neg: F32, rng: np.random.Generator) -> F32:
        """Photon counts (H, W) float32: primary exp(-A) x gain, + low-pass scatter, + noise."""
        h, w = self.size
        prim, scat, sd = self._work["prim"], self._work["scat"], self._work["sd"]
        cv2.multiply(cv2.exp(neg, dst=prim), self._gain, dst=prim)
        small = cv2.resize(prim, (64, 64), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 6.0, borderType=cv2.BORDER_REPLICATE)
        cv2.resize(small, (w, h), dst=scat, interpolation=cv2.INTER_LINEAR)
        total = as_f32(cv2.scaleAdd(scat, SCATTER_TO_PRIMARY, prim, dst=neg))  # neg is spent
        if self.noise == "poisson":
            return rng.poisson(total).astype(np.float32)
        if self._bank is None:
            return total
        k, dy, dx = (int(v) for v in rng.integers(0, [2, BANK_PAD, BANK_PAD]))
        cv2.sqrt(total, dst=sd)
        np.multiply(sd, self._bank[k, dy : dy + h, dx : dx + w], out=sd)
        return as_f32(cv2.add(total, sd, dst=total))


def _check(fps: float, size: tuple[int, int], dose: float, *choices: str) -> None:
    if not 0 < fps <= 60:
        raise ValueError(f"fps must be in (0, 60] (fluoroscopy runs at 7.5-30), got {fps}")
    if len(size) != 2 or min(size) < 64 or max(size) > 4096:
        raise ValueError(f"size must be (rows, columns) between 64 and 4096, got {size}")
    if not dose > 0:
        raise ValueError(f"dose (photons per pixel) must be > 0, got {dose}")
    allowed = (
        ("noise", ("fast", "poisson", "none")),
        ("response", ("log", "linear")),
        ("collimation", ("circle", "rect", "none")),
        ("vessel_label", ("lumen", "opacified")),
    )
    for (name, ok), value in zip(allowed, choices, strict=True):
        if value not in ok:
            raise ValueError(f"{name} must be one of {ok}, got {value!r}")
