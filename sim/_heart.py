"""A 3D beating-heart phantom: analytic deforming chambers with an exact LV volume curve.

Heart frame (mm): origin at the epicardial LV apex (nearly fixed), +z along the LV long axis to
the base, angles about z measured from +x toward +y: 0 deg inferoseptal (RV side of the
four-chamber plane), 60 anteroseptal, 120 anterior, 180 anterolateral, 240 inferolateral,
300 inferior. The LV cavity is a truncated ellipsoid (apical and basal halves with their own
long semi-axes) scaled in time about its apex, so V(t) = EDV * sr(t)**2 * sl(t) exactly; the
epicardium scales so that the myocardial volume stays constant (wall thickening) and shares the
mitral annulus plane, which descends toward the apex in systole. RV, LA, RA and the aortic root
are ellipsoids/cylinders; the mitral and tricuspid leaflets are conical sheets that open with the
filling rate. Tissue classes (``CLS_*``) drive the echo renderer; labels 0..5 are the truth.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

# Tissue classes: 0..5 equal the label indices; the rest render without a label.
CLS_FAT, CLS_LV, CLS_MYO, CLS_RV, CLS_LA, CLS_RA = 0, 1, 2, 3, 4, 5
CLS_AORTA, CLS_VALVE, CLS_WALL, CLS_PERI, CLS_OUTER, CLS_CHEST = 6, 7, 8, 9, 10, 11
N_CLASSES = 12
BLOOD_CLASSES = (CLS_LV, CLS_RV, CLS_LA, CLS_RA, CLS_AORTA)
LABEL_NAMES = ("background", "lv_cavity", "lv_myocardium", "rv", "la", "ra")


def _u(rng: np.random.Generator | None, lo: float, hi: float) -> float:
    return 0.5 * (lo + hi) if rng is None else float(rng.uniform(lo, hi))


@dataclass(frozen=True, slots=True)
class HeartAnatomy:
    """Per-instance anatomy at end-diastole (lengths in mm, angles in degrees)."""

    rx: float  # LV cavity radius toward the septum/lateral wall
    ry: float  # LV cavity radius anterior/inferior
    length: float  # LV cavity length, endocardial apex to mitral annulus plane
    apex_k: float  # apical/basal long semi-axis ratio (>1: pointier apex)
    beta: float  # how far past its equator the cavity is cut by the annulus plane (0..1)
    wall: float  # LV wall thickness
    apex_wall: float  # apical wall thickness
    rv_angle: float  # direction of the RV centre about z
    rv_dist: float  # RV centre distance from the LV axis
    rv_radial: float  # RV semi-axes: radial, tangential (wraps the septum), long
    rv_tang: float
    rv_long: float
    rv_base_drop: float  # tricuspid annulus below the mitral annulus plane
    la_size: float  # LA semi-axes scale (radial 0.9, tangential 1.15, long 1.0)
    la_angle: float
    la_dist: float
    ra_size: float
    ra_angle: float
    ra_dist: float
    mv_radius: float  # mitral annulus radius
    mv_ant: float  # anterior / posterior leaflet lengths
    mv_post: float
    ao_radius: float  # aortic root radius, distance from the LV axis, anterior tilt
    ao_dist: float
    ao_tilt: float

    @staticmethod
    def sample(rng: np.random.Generator | None) -> HeartAnatomy:
        """Random adult anatomy (``rng`` None: the nominal heart, mid-range values)."""
        rx = _u(rng, 21.0, 27.0)
        return HeartAnatomy(
            rx=rx,
            ry=rx * _u(rng, 0.9, 1.12),
            length=_u(rng, 74.0, 92.0),
            apex_k=_u(rng, 1.0, 1.35),
            beta=_u(rng, 0.3, 0.55),
            wall=_u(rng, 8.5, 12.0),
            apex_wall=_u(rng, 5.5, 8.0),
            rv_angle=_u(rng, 15.0, 40.0),
            rv_dist=_u(rng, 36.0, 44.0),
            rv_radial=_u(rng, 26.0, 33.0),
            rv_tang=_u(rng, 38.0, 48.0),
            rv_long=_u(rng, 0.45, 0.55),
            rv_base_drop=_u(rng, 6.0, 12.0),
            la_size=_u(rng, 18.0, 24.0),
            la_angle=_u(rng, 200.0, 250.0),
            la_dist=_u(rng, 3.0, 10.0),
            ra_size=_u(rng, 16.0, 21.0),
            ra_angle=_u(rng, -10.0, 20.0),
            ra_dist=_u(rng, 27.0, 34.0),
            mv_radius=_u(rng, 13.0, 16.0),
            mv_ant=_u(rng, 21.0, 26.0),
            mv_post=_u(rng, 12.0, 16.0),
            ao_radius=_u(rng, 10.5, 13.0),
            ao_dist=_u(rng, 15.0, 19.0),
            ao_tilt=_u(rng, 10.0, 25.0),
        )

    # -- derived ED geometry (mm) ---------------------------------------------------------------
    @property
    def a_base(self) -> float:
        """Basal long semi-axis of the cavity."""
        return self.length / (self.apex_k + self.beta)

    @property
    def a_apex(self) -> float:
        return self.apex_k * self.a_base

    def cavity_volume_ml(self) -> float:
        """Exact ED cavity volume: pi rx ry (2/3 a_apex + a_base (beta - beta^3 / 3))."""
        shape = 2.0 / 3.0 * self.a_apex + self.a_base * (self.beta - self.beta**3 / 3.0)
        return math.pi * self.rx * self.ry * shape / 1000.0

    def epi_axes(self) -> tuple[float, float, float, float, float]:
        """Epicardium at ED: (ex, ey, e_apex, e_base, e_beta), apex at z = 0."""
        e_apex = self.apex_wall + self.a_apex
        e_base = self.a_base + self.wall
        return (
            self.rx + self.wall,
            self.ry + self.wall,
            e_apex,
            e_base,
            self.beta * self.a_base / e_base,
        )

    def epi_volume_ml(self) -> float:
        ex, ey, ea, eb, bt = self.epi_axes()
        return math.pi * ex * ey * (2.0 / 3.0 * ea + eb * (bt - bt**3 / 3.0)) / 1000.0

    @property
    def base_z(self) -> float:
        """Mitral annulus plane height at ED (mm)."""
        return self.apex_wall + self.length


class CardiacCycle:
    """Heartbeat timing and the normalised LV volume curve v(phase) (1 at ED, 0 at ES).

    Phase 0 is end-diastole (mitral closure). Segments: isovolumic contraction, ejection
    (Weissler LVET = 0.413 - 0.0017 HR s), isovolumic relaxation, rapid filling (``e_fraction``
    of the stroke volume), diastasis (a few percent, vanishing at high rates) and the atrial kick.
    """

    def __init__(self, hr_bpm: float, ef: float, e_fraction: float = 0.7) -> None:
        if not 20.0 <= hr_bpm <= 220.0:
            raise ValueError(f"heart rate must be 20..220 bpm; got {hr_bpm}")
        if not 0.05 <= ef <= 0.9:
            raise ValueError(f"ef is a fraction 0.05..0.9 (not percent); got {ef}")
        if not 0.3 <= e_fraction <= 0.9:
            raise ValueError(f"e_fraction must be 0.3..0.9; got {e_fraction}")
        self.hr_bpm, self.ef, self.e_fraction = float(hr_bpm), float(ef), float(e_fraction)
        period = 60.0 / hr_bpm
        ivc, ivr = 0.045, 0.07
        ej = min(max(0.413 - 0.0017 * hr_bpm, 0.17), 0.36)
        k = min(1.0, 0.62 * period / (ivc + ej + ivr))
        ivc, ej, ivr = ivc * k, ej * k, ivr * k
        dia = period - ivc - ej - ivr
        e, a = min(0.17, 0.5 * dia), min(0.11, 0.32 * dia)
        ds = dia - e - a
        self.f_ds = 0.06 * ds / (ds + 0.15)
        self.f_e = e_fraction * (1.0 - self.f_ds)
        self.f_a = 1.0 - self.f_e - self.f_ds
        acc = np.cumsum([ivc, ej, ivr, e, ds]) / period
        self.b = (0.0, *(float(v) for v in acc), 1.0)
        self.period_s = period
        self.es_phase = self.b[2]
        grid = np.linspace(self.b[3], self.b[4], 64)
        self._peak_e = max(self._rate(float(p)) for p in grid)
        grid = np.linspace(self.b[1], self.b[2], 64)
        self._peak_ej = max(-self._rate(float(p)) for p in grid)

    def volume_fraction(self, phase: float) -> float:
        """v in [0, 1] at cycle ``phase`` in [0, 1)."""
        b = self.b
        if phase < b[1]:
            return 1.0
        if phase < b[2]:
            tau = (phase - b[1]) / (b[2] - b[1])
            return 1.0 - 0.5 * (1.0 - math.cos(math.pi * tau**0.8))
        if phase < b[3]:
            return 0.0
        if phase < b[4]:
            tau = (phase - b[3]) / (b[4] - b[3])
            return self.f_e * 0.5 * (1.0 - math.cos(math.pi * tau**0.75))
        if phase < b[5]:
            return self.f_e + self.f_ds * (phase - b[4]) / max(b[5] - b[4], 1e-9)
        tau = (phase - b[5]) / (1.0 - b[5])
        return self.f_e + self.f_ds + self.f_a * 0.5 * (1.0 - math.cos(math.pi * tau))

    def _rate(self, phase: float) -> float:
        h = 1e-4
        lo, hi = max(phase - h, 0.0), min(phase + h, 1.0 - 1e-12)
        return (self.volume_fraction(hi) - self.volume_fraction(lo)) / (hi - lo)

    def valve_openings(self, phase: float) -> tuple[float, float]:
        """(mitral, aortic) opening 0..1, following the square root of the flow rate."""
        r = self._rate(phase)
        mitral = math.sqrt(min(max(r / self._peak_e, 0.0), 1.0)) if phase >= self.b[3] else 0.0
        aortic = math.sqrt(min(max(-r / self._peak_ej, 0.0), 1.0)) if phase < self.b[3] else 0.0
        return mitral, aortic

    def describe(self) -> dict[str, Any]:
        names = ("ivc", "ejection", "ivr", "rapid_filling", "diastasis", "atrial")
        durs = {f"{n}_s": (self.b[i + 1] - self.b[i]) * self.period_s for i, n in enumerate(names)}
        return {
            "hr_bpm": self.hr_bpm,
            "ef": self.ef,
            "period_s": self.period_s,
            "e_fraction": self.e_fraction,
            "es_phase": self.es_phase,
            **durs,
        }


@dataclass(frozen=True, slots=True)
class HeartState:
    """The phantom at one instant (lengths in mm, volumes in ml, angles in degrees)."""

    t_s: float
    phase: float  # 0 at end-diastole, cycle fraction
    v: float  # (V - ESV) / SV: 1 at ED, 0 at ES
    lv_volume_ml: float
    sr: float  # cavity radial scale (1 at ED)
    sl: float  # cavity longitudinal scale
    z_apex: float  # endocardial apex height
    z_base: float  # mitral annulus plane height
    er: float  # epicardial radial / longitudinal scale
    el: float
    mv_open: float  # 0 closed .. 1 fully open
    av_open: float
    rv_scale: float  # RV and atrial scales
    la_scale: float
    ra_scale: float


class HeartPhantom:
    """Anatomy + cardiac cycle -> state at time t (see module docstring for the frame)."""

    def __init__(
        self,
        anatomy: HeartAnatomy,
        cycle: CardiacCycle,
        long_shortening: float,
        phase0: float = 0.0,
    ) -> None:
        if not 0.0 <= long_shortening < 0.5 * cycle.ef:
            raise ValueError(f"long_shortening must be in [0, ef/2); got {long_shortening}")
        self.anatomy, self.cycle, self.ls, self.phase0 = anatomy, cycle, long_shortening, phase0
        self.edv_ml = anatomy.cavity_volume_ml()
        self.esv_ml = self.edv_ml * (1.0 - cycle.ef)
        self.myo_ml = anatomy.epi_volume_ml() - self.edv_ml

    def describe(self) -> dict[str, Any]:
        a = asdict(self.anatomy)
        return {
            "anatomy_mm_deg": {k: round(float(v), 4) for k, v in a.items()},
            "edv_ml": self.edv_ml,
            "esv_ml": self.esv_ml,
            "myocardium_ml": self.myo_ml,
            "long_shortening": self.ls,
            "phase0": self.phase0,
            **self.cycle.describe(),
        }

    def lv_masks(
        self, st: HeartState, x: F32, y: F32, z: F32
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """(cavity, myocardium) membership of heart-frame points (mm, float32, any shape)."""
        g_c, g_e = _lv_g(self.anatomy, st, x * x, y * y, z)
        below = z < np.float32(st.z_base)
        cav = (g_c < 1.0) & below
        return cav, (g_e < 1.0) & below & ~cav

    def state(self, t_s: float) -> HeartState:
        """Exact state at ``t_s`` seconds (phase 0 = end-diastole at t = -phase0 * period)."""
        an, cy = self.anatomy, self.cycle
        phase = (t_s / cy.period_s + self.phase0) % 1.0
        v = cy.volume_fraction(phase)
        frac = (self.esv_ml + (self.edv_ml - self.esv_ml) * v) / self.edv_ml
        sl = 1.0 - self.ls * (1.0 - v)
        sr = math.sqrt(frac / sl)
        z_apex = an.apex_wall + 0.3 * an.apex_wall * (1.0 - v) * cy.ef
        z_base = z_apex + sl * an.length
        el = z_base / an.base_z
        er = math.sqrt((frac * self.edv_ml + self.myo_ml) / (an.epi_volume_ml() * el))
        fill, eject = cy.valve_openings(phase)
        return HeartState(
            t_s=t_s,
            phase=phase,
            v=v,
            lv_volume_ml=frac * self.edv_ml,
            sr=sr,
            sl=sl,
            z_apex=z_apex,
            z_base=z_base,
            er=er,
            el=el,
            mv_open=fill,
            av_open=eject,
            rv_scale=1.0 - 0.16 * (1.0 - v),
            la_scale=1.0 + 0.1 * (1.0 - v) - 0.05 * fill,
            ra_scale=1.0 + 0.08 * (1.0 - v),
        )


def _lv_g(an: HeartAnatomy, st: HeartState, x2: F32, y2: F32, z: F32) -> tuple[F32, F32]:
    """Normalised squared radii (g < 1 inside) of the LV cavity and epicardium ellipsoids at
    points with squared heart-frame x, y (``x2``, ``y2``) and height ``z`` (mm); any shape."""
    a_b, a_ap = an.a_base * st.sl, an.a_apex * st.sl
    dz = z - np.float32(st.z_apex + a_ap)
    dz *= np.where(dz < 0, np.float32(1.0 / a_ap), np.float32(1.0 / a_b))
    g_c = x2 * np.float32(1.0 / (st.sr * an.rx) ** 2) + y2 * np.float32(1.0 / (st.sr * an.ry) ** 2)
    g_c += dz * dz
    ex, ey, e_ap, e_b, _ = an.epi_axes()
    e_ap, e_b = e_ap * st.el, e_b * st.el
    dze = z - np.float32(e_ap)
    dze *= np.where(dze < 0, np.float32(1.0 / e_ap), np.float32(1.0 / e_b))
    g_e = x2 * np.float32(1.0 / (st.er * ex) ** 2) + y2 * np.float32(1.0 / (st.er * ey) ** 2)
    g_e += dze * dze
    return g_c, g_e


def _rot(x: F32, y: F32, deg: float) -> tuple[F32, F32]:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return (x * c + y * s).astype(np.float32), (y * c - x * s).astype(np.float32)


def _leaflet(
    rho: F32, dz: F32, *, hinge: float, theta: float, length: F32 | float, half_thick: float
) -> npt.NDArray[np.bool_]:
    """Points within ``half_thick`` of a leaflet segment in the (rho, z) half-plane.

    The segment starts at (hinge, 0) and points inward at ``theta`` rad below the annulus plane.
    """
    c, s = -math.cos(theta), -math.sin(theta)
    dr = rho - np.float32(hinge)
    proj = np.clip(dr * c + dz * s, 0.0, length)
    d2 = (dr - proj * c) ** 2 + (dz - proj * s) ** 2
    return np.asarray(d2 < half_thick * half_thick)


class _Sub:
    """The points (flat indices) a structure can reach during the cycle, and their coordinates."""

    def __init__(self, keep: npt.NDArray[np.bool_], **coords: F32) -> None:
        self.idx = np.flatnonzero(keep)
        self.__dict__.update({k: np.ascontiguousarray(v[self.idx]) for k, v in coords.items()})

    def __getattr__(self, name: str) -> F32:  # coordinates set in __init__
        raise AttributeError(name)


_BLOOD = np.zeros(N_CLASSES, np.bool_)
_BLOOD[list(BLOOD_CLASSES)] = True


class PhantomSampler:
    """Evaluates the phantom at the fixed beam samples of one imaging plane.

    The plane: ``origin`` (3,) mm and unit ``lateral``, ``axis`` (3,) in the heart frame; the
    samples: (N, M) float32 in-plane coordinates ``u0`` (along lateral) and ``v0`` (along axis),
    mm; ``near``: (N, M) bool, samples in the chest wall. Each structure is evaluated only on the
    samples it can reach during the cycle (precomputed); :meth:`evaluate` runs per frame.
    """

    def __init__(
        self,
        phantom: HeartPhantom,
        *,
        origin: npt.NDArray[np.float64],
        lateral: npt.NDArray[np.float64],
        axis: npt.NDArray[np.float64],
        u0: F32,
        v0: F32,
        near: npt.NDArray[np.bool_],
    ) -> None:
        self.ph, an = phantom, phantom.anatomy
        self.shape = u0.shape
        self.basis = np.stack([lateral, axis, np.cross(lateral, axis)]).astype(np.float32)
        self.origin = origin.astype(np.float32)
        self.u0, self.v0 = u0.ravel(), v0.ravel()
        x, y, z = (
            np.float32(origin[i]) + self.u0 * np.float32(lateral[i]) + self.v0 * np.float32(axis[i])
            for i in range(3)
        )
        self.near = near.ravel()
        self.w_base = (np.clip(z / an.base_z, 0.0, 1.0) * ~self.near).astype(np.float32)
        rho = np.sqrt(x * x + y * y)
        zb = an.base_z
        ex = an.epi_axes()[0]
        # Samples inside the LV cavity (epicardium) all through the cycle, with a margin.
        x2, y2 = x * x, y * y
        in_cav = np.ones(x.shape, np.bool_)
        in_epi = np.ones(x.shape, np.bool_)
        for ph in np.linspace(0.0, 1.0, 48, endpoint=False):
            st = phantom.state(float(ph) * phantom.cycle.period_s)
            g_c, g_e = _lv_g(an, st, x2, y2, z)
            inside = z < np.float32(st.z_base - 2.0)
            in_cav &= (g_c < 0.85) & inside
            in_epi &= (g_e < 0.85) & inside
        self.always_cav = np.flatnonzero(in_cav)
        self.always_epi = np.flatnonzero(in_epi)
        ed = phantom.state(-phantom.phase0 * phantom.cycle.period_s)
        keep = (_lv_g(an, ed, x2, y2, z)[1] < (1.0 + 8.0 / ex) ** 2) & (z < zb + 8.0) & ~in_cav
        b, o = self.basis, self.origin
        self.lv = _Sub(
            keep,
            x=x,
            y=y,
            z=z,
            x2=x2,
            y2=y2,
            **{f"xy{k}": x * b[k, 0] + y * b[k, 1] for k in range(3)},
        )
        self.o_proj = b @ o
        self.labels0 = np.zeros(x.shape, np.uint8)
        self.labels0[self.always_cav] = CLS_LV
        self.epi0 = in_epi | in_cav
        self.near_idx = np.flatnonzero(self.near)
        rr, rt = _rot(x, y, an.rv_angle)
        az = an.rv_long * an.length
        ztv = zb - an.rv_base_drop
        keep = (np.abs(rr - an.rv_dist) < an.rv_radial + 14.0) & (np.abs(rt) < an.rv_tang + 14.0)
        keep &= (z > ztv - 22.0 - 1.35 * az - 20.0) & (z < ztv + 0.65 * az + 20.0) & ~in_epi
        self.rv = _Sub(keep, r=rr, t=rt, z=z)
        self.atria = []
        for dist, ang, size, drop in (
            (an.la_dist, an.la_angle, an.la_size, 0.0),
            (an.ra_dist, an.ra_angle, an.ra_size, an.rv_base_drop),
        ):
            ar_, at_ = _rot(x, y, ang)
            m = 1.5 * 1.1 * size
            keep = (np.abs(ar_ - dist) < 0.95 * m + 2) & (np.abs(at_) < m + 2)
            keep &= (z > zb - drop - 22.0) & (z < zb - drop + (0.8 + 1.3 * 1.5) * 1.1 * size)
            self.atria.append(_Sub(keep, r=ar_, t=at_, z=z))
        self.mv = _Sub(
            (rho < an.mv_radius + 2.0) & (z > zb - 45.0) & (z < zb + 8.0),
            rho=rho,
            z=z,
            cos_ant=(x * 0.5 + y * 0.866) / np.maximum(rho, 1e-3),
        )
        ang = math.radians(an.rv_angle - 12.0)
        tc = (an.rv_dist * 0.75 * math.cos(ang), an.rv_dist * 0.75 * math.sin(ang))
        rho_t = np.hypot(x - tc[0], y - tc[1]).astype(np.float32)
        self.tv = _Sub((rho_t < 17.0) & (z > ztv - 45.0) & (z < ztv + 8.0), rho=rho_t, z=z)
        ao_r, ao_t = _rot(x, y, 60.0)
        tilt = math.radians(an.ao_tilt)
        q = ((ao_r - an.ao_dist) * math.cos(tilt) - (z - zb) * math.sin(tilt)).astype(np.float32)
        s_ = ((ao_r - an.ao_dist) * math.sin(tilt) + (z - zb) * math.cos(tilt)).astype(np.float32)
        keep = (np.abs(q) < an.ao_radius + 7.0) & (np.abs(ao_t) < an.ao_radius + 3.0)
        self.ao = _Sub(keep & (s_ > -30.0) & (s_ < 58.0), q=q, t=ao_t, s=s_)

    def evaluate(
        self, st: HeartState, blood_shift: tuple[float, float, float]
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], F32, F32, F32]:
        """(labels, classes, u, v, w) at state ``st``, each (N, M).

        ``labels``/``classes``: uint8 label indices 0..5 and tissue classes (``CLS_*``);
        ``u, v, w``: float32 material coordinates (mm, in the plane's basis, relative to its
        origin) of the tissue at each sample: where it sat at end-diastole, so speckle sampled
        there moves with the tissue; blood gets its own position shifted by ``blood_shift``
        (mm, heart frame; a new one each frame decorrelates blood speckle).
        """
        an, n = self.ph.anatomy, self.u0.size
        labels = self.labels0.copy()
        zone = np.zeros(n, np.uint8)  # 0 outside the pericardium, 1 pericardium, 2 fat
        # LV cavity and epicardium (truncated ellipsoids) on the LV samples.
        lv = self.lv
        g_c, g_e = _lv_g(an, st, lv.x2, lv.y2, lv.z)
        ex = an.epi_axes()[0]
        zc = st.z_apex + an.a_apex * st.sl
        below = lv.z < np.float32(st.z_base)
        cav, epi = (g_c < 1.0) & below, (g_e < 1.0) & below
        myo = epi & ~cav
        zone[lv.idx[g_e < (1.0 + 4.5 / ex) ** 2]] = 1
        epi_full = self.epi0.copy()
        epi_full[lv.idx[epi]] = True
        # RV: ellipsoid about its own axis, septal side fixed, outside the LV epicardium.
        rv, rs = self.rv, st.rv_scale
        ar, az = an.rv_radial * rs, an.rv_long * an.length * (0.75 + 0.25 * rs)
        z_tv = st.z_base - an.rv_base_drop - 6.0 * (1.0 - rs)
        g_rv = ((rv.r - np.float32(an.rv_dist - an.rv_radial + ar)) / ar) ** 2
        g_rv += (rv.t / (an.rv_tang * (0.9 + 0.1 * rs))) ** 2
        g_rv += ((rv.z - np.float32(z_tv - az * 0.35)) / az) ** 2
        free = (rv.z < np.float32(z_tv)) & ~epi_full[rv.idx]
        labels[rv.idx[free & (g_rv < 1.0)]] = CLS_RV
        walls = [rv.idx[free & (g_rv < 1.0 + 8.0 / ar)]]
        zone[rv.idx[g_rv < (1.0 + 9.5 / ar) ** 2]] = 1
        fat = [rv.idx[g_rv < (1.0 + 7.0 / ar) ** 2]]
        # Atria above their annuli; the RA stops at the LA wall (interatrial septum).
        la_wall = np.zeros(n, np.bool_)
        for k, (at, size, z0) in enumerate(
            zip(
                self.atria,
                (an.la_size * st.la_scale, an.ra_size * st.ra_scale),
                (st.z_base, z_tv),
                strict=True,
            )
        ):
            dist = an.la_dist if k == 0 else an.ra_dist
            h = (0.75, 1.25) if k == 0 else (0.8, 1.3)
            g = ((at.r - np.float32(dist)) / (0.9 * size)) ** 2 + (at.t / size) ** 2
            g += ((at.z - np.float32(z0 + h[0] * size)) / (h[1] * size)) ** 2
            above = at.z > np.float32(z0)
            shell = at.idx[above & (g < 1.0 + 6.0 / size)]
            inside = (g < 1.0) & (at.z > np.float32(z0 + 1.5))
            if k == 0:
                la_wall[shell] = True
            else:
                inside &= (labels[at.idx] == 0) & ~la_wall[at.idx]
            labels[at.idx[inside]] = CLS_LA if k == 0 else CLS_RA
            walls.append(shell)
            # Pericardium only behind the atria (the bright posterior AV-groove line).
            zone[at.idx[(g < 1.0 + 13.0 / size) & (at.z > np.float32(z0 + h[0] * size))]] = 1
            zone[at.idx[(g < 1.0 + 13.0 / size) & (at.z <= np.float32(z0 + h[0] * size))]] = 2
            fat.append(at.idx[g < 1.0 + 8.0 / size])
        lv_myo, lv_cav = lv.idx[myo], lv.idx[cav]
        labels[lv_myo] = CLS_MYO
        labels[lv_cav] = CLS_LV
        cls = labels.copy()
        for idx in walls:
            cls[idx[labels[idx] == 0]] = CLS_WALL
        zone[lv.idx[g_e < (1.0 + 2.0 / ex) ** 2]] = 2
        for idx in fat:
            zone[idx] = 2
        # Aortic root (a tilted tube from the LV outflow tract), closed valve in diastole.
        if self.ao.idx.size:
            ao, sh = self.ao, np.float32(st.z_base - an.base_z)
            q2 = (ao.q + sh * 0.2) ** 2 + ao.t**2
            s = ao.s - sh
            tube = (s > -12.0) & (s < 55.0) & (labels[ao.idx] != CLS_LV)
            wall = ao.idx[tube & (q2 < (an.ao_radius + 2.0) ** 2)]
            cls[wall[cls[wall] != CLS_LA]] = CLS_WALL
            lumen = tube & (q2 < an.ao_radius**2)
            cls[ao.idx[lumen]] = CLS_AORTA
            if st.av_open < 0.2:
                cls[ao.idx[lumen & (np.abs(s - 1.0) < 0.8)]] = CLS_VALVE
        # Mitral and tricuspid leaflets: conical sheets hinged on the annuli.
        mv = self.mv
        theta = math.radians(-12.0 + 87.0 * st.mv_open)
        length = 0.5 * (an.mv_ant + an.mv_post) + 0.5 * (an.mv_ant - an.mv_post) * mv.cos_ant
        r_mv = an.mv_radius * (0.92 + 0.08 * st.v)
        cls[
            mv.idx[
                _leaflet(
                    mv.rho,
                    mv.z - np.float32(st.z_base),
                    hinge=r_mv,
                    theta=theta,
                    length=length,
                    half_thick=0.8,
                )
            ]
        ] = CLS_VALVE
        tv = self.tv
        theta = math.radians(-10.0 + 80.0 * st.mv_open)
        cls[
            tv.idx[
                _leaflet(
                    tv.rho,
                    tv.z - np.float32(z_tv),
                    hinge=15.0,
                    theta=theta,
                    length=17.0,
                    half_thick=0.8,
                )
            ]
        ] = CLS_VALVE
        # Pericardium a few mm outside the chambers, epicardial fat inside it; chest wall.
        free_ = cls == CLS_FAT
        cls[free_ & (zone == 1)] = CLS_PERI
        cls[free_ & (zone == 0)] = CLS_OUTER
        cls[self.near_idx] = CLS_CHEST
        # Material coordinates: the base's descent drags the surroundings; myocardium blends
        # the cavity and epicardial inverse maps across the wall; blood is shifted each frame.
        b = self.basis
        dzb = self.w_base * np.float32(an.base_z - st.z_base)
        u, v, w = self.u0 + dzb * b[0, 2], self.v0 + dzb * b[1, 2], dzb * b[2, 2]
        gc, ge = g_c[myo], g_e[myo]
        xi = np.clip((gc - 1.0) / np.maximum(gc - ge, 1e-3), 0.0, 1.0)
        fc, fe = 1.0 / st.sr, 1.0 / st.er
        fr = fc + xi * (fe - fc)
        zm = lv.z[myo]
        pz = (an.apex_wall + an.a_apex) + (zm - zc) / st.sl
        pz += xi * (zm / st.el - pz)
        blood = _BLOOD[cls]
        sh3 = b @ np.asarray(blood_shift, np.float32)
        for k, (out, u0) in enumerate(((u, self.u0), (v, self.v0), (w, None))):
            # Projection of the material point (x fr, y fr, pz) on basis row k, from the origin.
            out[lv_myo] = fr * getattr(lv, f"xy{k}")[myo] + pz * b[k, 2] - self.o_proj[k]
            np.copyto(out, sh3[k] if u0 is None else u0 + sh3[k], where=blood)
        return (
            labels.reshape(self.shape),
            cls.reshape(self.shape),
            u.reshape(self.shape),
            v.reshape(self.shape),
            w.reshape(self.shape),
        )
