"""Sampling the beating-heart phantom on one imaging plane: tissue classes and truth labels.

``PhantomSampler`` evaluates the phantom of ``_heart.py`` at the fixed beam samples of a plane,
restricted per structure to the points it can reach during the cycle, so that each frame costs
only the points near moving boundaries.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ._heart import (
    BLOOD_CLASSES,
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
    F32,
    N_CLASSES,
    HeartPhantom,
    HeartState,
    lv_ellipsoid_g,
)


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
    samples it can reach during the cycle (precomputed on ``phases`` states evenly spaced over
    one period from t = 0; ``phases=1``: the state at t = 0 only, for a heart held still);
    :meth:`evaluate` runs per frame.
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
        phases: int = 48,
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
        for ph in np.linspace(0.0, 1.0, phases, endpoint=False):
            st = phantom.state(float(ph) * phantom.cycle.period_s)
            g_c, g_e = lv_ellipsoid_g(an, st, x2, y2, z)
            inside = z < np.float32(st.z_base - 2.0)
            in_cav &= (g_c < 0.85) & inside
            in_epi &= (g_e < 0.85) & inside
        self.always_cav = np.flatnonzero(in_cav)
        self.always_epi = np.flatnonzero(in_epi)
        ed = phantom.state(-phantom.phase0 * phantom.cycle.period_s)
        near_epi = lv_ellipsoid_g(an, ed, x2, y2, z)[1] < (1.0 + 8.0 / ex) ** 2
        keep = near_epi & (z < zb + 8.0) & ~in_cav
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
        g_c, g_e = lv_ellipsoid_g(an, st, lv.x2, lv.y2, lv.z)
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
