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
        g_c, g_e = lv_ellipsoid_g(self.anatomy, st, x * x, y * y, z)
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


def lv_ellipsoid_g(an: HeartAnatomy, st: HeartState, x2: F32, y2: F32, z: F32) -> tuple[F32, F32]:
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
