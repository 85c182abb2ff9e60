"""The fluoroscopy simulator's patient body and detector: a painted background attenuation map
(spine, ribs, lungs, diaphragm, heart, gas), the detector response, gain map and noise bank.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ._catheter import catmull_rom
from ._vessels import MAG, REF_SIZE, SPACING_MM

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

SCATTER_TO_PRIMARY = 0.45
"""Scatter-to-primary ratio behind the anti-scatter grid."""
LOG_WINDOW = (-2.2, 1.4)
"""ln(counts / dose) mapped to 0 and 65535 by the log response."""
BANK_PAD = 192
"""Margin of the noise bank beyond the image (px), so frames can take shifted windows."""


def as_f32(a: Any) -> F32:
    return np.asarray(a, dtype=np.float32)


def respond(
    counts: F32, dose: float, response: str, *, window: tuple[float, float] = LOG_WINDOW
) -> npt.NDArray[np.uint16]:
    """Detector response to uint16: log (``window`` of ln(counts/dose)) or linear."""
    lo, hi = window
    if response == "linear":
        g = 65535.0 / (dose * math.exp(hi))
        out = cv2.addWeighted(counts, g, counts, 0.0, 0.0, dtype=cv2.CV_16U)
    else:
        lg = cv2.log(np.maximum(counts, np.float32(0.5), out=counts), dst=counts)
        g = 65535.0 / (hi - lo)
        out = cv2.addWeighted(lg, g, lg, 0.0, -(math.log(dose) + lo) * g, dtype=cv2.CV_16U)
    return np.asarray(out, dtype=np.uint16)


def gain_map(
    size: tuple[int, int],
    collimation: str,
    dose: float,
    u: Any,
    *,
    scatter_to_primary: float = SCATTER_TO_PRIMARY,
) -> tuple[F32, U8]:
    """Primary photons per pixel with no patient ((H, W) float32: dose, vignetting,
    collimator) and the collimator's open field ((H, W) uint8, 1 where >= half open)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (0.5 * min(h, w)) ** 2
    edge = 0.01 * min(h, w)
    if collimation == "circle":
        open_ = np.clip((0.985 - np.sqrt(r2)) * 0.5 * min(h, w) / edge, 0, 1)
    elif collimation == "rect":
        ins = [u(0.02, 0.12) for _ in range(4)]
        fx = np.minimum(xx - ins[0] * w, (1 - ins[1]) * w - xx)
        fy = np.minimum(yy - ins[2] * h, (1 - ins[3]) * h - yy)
        open_ = np.clip(np.minimum(fx, fy) / edge, 0, 1)
    else:
        open_ = np.ones_like(r2)
    gain = dose / (1 + scatter_to_primary) * (1.0 - 0.18 * r2) * (0.02 + 0.98 * open_)
    return as_f32(gain), (open_ >= 0.5).astype(np.uint8)


def noise_bank(rng: np.random.Generator, size: tuple[int, int]) -> F32:
    """(2, H+pad, W+pad) float32 unit-variance fields, mildly correlated like a detector's."""
    bank = rng.standard_normal((2, size[0] + BANK_PAD, size[1] + BANK_PAD), dtype=np.float32)
    for i in range(2):
        bank[i] = cv2.GaussianBlur(bank[i], (3, 3), 0.5)
        bank[i] /= float(bank[i].std())
    return bank


def paint_background(
    anatomy: str, rng: np.random.Generator, scene: F64, size: tuple[int, int]
) -> tuple[F32, F32]:
    """Negative attenuation line integrals of the body at rest, at half the output resolution.

    Returns (static, moving), each (ceil(H/2), ceil(W/2)) float32: spine, soft-tissue texture
    and bowel gas stay put; lungs, diaphragm, liver, heart and ribs move with breathing. Painted
    on a 512x512 canvas of the reference view (``k`` canvas px per mm at the patient), mapped by
    ``scene`` (2x3, reference px -> output px). Zero is the median pixel, where dose is defined.
    """
    n, u = REF_SIZE // 2, rng.uniform
    k = 0.5 * MAG / SPACING_MM[anatomy]
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    sx = n * {"hepatic": 0.42, "coronary": 0.6, "arch": 0.52}[anatomy] + u(-10, 10)
    static = 0.12 * _smooth_field(rng, 6, n) + 0.05 * _smooth_field(rng, 24, n)
    static -= 0.5 * ((xx - n / 2) / n) ** 2
    moving = np.zeros((n, n), np.float32)
    bone = 1.0 if anatomy == "hepatic" else 0.6

    def paint(dst: F32, value: float, blur: float, kind: str, *args: Any) -> None:
        tmp = np.zeros((n, n), np.float32)
        if kind == "poly":  # args: points (M, 2), thickness (-1 fills), closed
            pts = [np.round(np.asarray(args[0]) * 16).astype(np.int32)]
            if args[1] < 0:
                cv2.fillPoly(tmp, pts, 1.0, shift=4)
            else:
                cv2.polylines(tmp, pts, args[2], 1.0, max(1, round(args[1])), shift=4)
        else:  # ellipse: centre (x, y), axes (a, b), thickness (-1 fills)
            c, a = (round(v * 16) for v in args[0]), (round(v * 16) for v in args[1])
            cv2.ellipse(tmp, tuple(c), tuple(a), 0, 0, 360, 1.0, args[2], shift=4)
        dst += value * cv2.GaussianBlur(tmp, (0, 0), blur)

    bw, pitch = np.array({"hepatic": (46, 36), "coronary": (36, 29), "arch": (30, 25)}[anatomy]) * k
    for yc in np.arange(u(0, pitch) - pitch, n + pitch, pitch):
        ex, ey = np.array([-1, -0.9, -1, 1, 0.9, 1]) * bw / 2, np.array([-1, 0, 1, 1, 0, -1])
        body = np.c_[sx + ex, yc + ey * 0.36 * pitch]
        paint(static, 0.4 * bone, 1.2 * k, "poly", body, -1, True)
        paint(static, 0.2 * bone, k, "poly", body, 2 * k, True)
        for side in (-1, 1):
            paint(
                static,
                0.35 * bone,
                k,
                "ellipse",
                (sx + side * 0.31 * bw, yc - 0.12 * pitch),
                (0.08 * bw, 0.15 * pitch),
                round(2 * k),
            )
            if anatomy == "hepatic":  # lumbar transverse processes
                x0, x1 = sx + side * bw / 2, sx + side * (bw / 2 + 24 * k)
                bar = [(x0, yc - 3 * k), (x1, yc - 3 * k), (x1, yc + 2 * k), (x0, yc + 2 * k)]
                paint(static, 0.2, 2 * k, "poly", bar, -1, True)
        paint(static, 0.2, 1.5 * k, "ellipse", (sx, yc + 0.3 * pitch), (3 * k, 8 * k), -1)
    for side in (-1, 1):  # posterior ribs: cortical tubes
        for y in np.arange(u(-40, 0) * k, n * (0.6 if anatomy == "hepatic" else 1.0), 34 * k):
            ctl = np.array([(22, 0), (50, 6), (85, 22), (120, 48), (150, 90)], np.float64)
            ctl[1:, 1] *= u(0.8, 1.25)
            rib = catmull_rom(np.c_[sx + side * ctl[:, 0] * k, y + (ctl[:, 1] + u(-4, 4)) * k], 8)
            wid = u(8, 11) * k
            paint(moving, 0.22, 0.7 * k, "poly", rib, wid, False)
            paint(moving, -0.1, 0.7 * k, "poly", rib, wid / 2, False)
    half_w = {"hepatic": 0, "coronary": 40, "arch": 38}[anatomy] * k
    mediast = np.clip((np.abs(xx - sx) - half_w) / (15 * k), 0, 1) if half_w else 1.0
    if anatomy == "arch":
        lung = np.ones((n, n), bool)
        trachea = (np.abs(xx - sx - 3 * k) < 8 * k) & (yy < n * 0.55)
        moving -= 0.35 * cv2.GaussianBlur(trachea.astype(np.float32), (0, 0), 2 * k)
        for side in (-1, 1):  # clavicles
            paint(
                static,
                0.45,
                2,
                "poly",
                [(sx + side * 15 * k, 45), (sx + side * 150 * k, 10)],
                13 * k,
                False,
            )
    else:
        apex = {"hepatic": (0.3, 0.2, 0.85, 0.28), "coronary": (0.25, 0.88, 0.85, 0.84)}[anatomy]
        right = n * apex[1] + 0.004 * (xx - n * apex[0]) ** 2 / k + u(-15, 15)
        left = n * apex[3] + 0.004 * (xx - n * apex[2]) ** 2 / k
        dome = np.where(xx < sx + 10 * k, right, left)
        lung = yy < dome
        liver = (yy >= dome) & (xx < sx + 40 * k)
        moving += 0.15 * cv2.GaussianBlur(liver.astype(np.float32), (0, 0), 3 * k)
        paint(
            moving,
            -0.45,
            4 * k,
            "ellipse",
            (n * apex[2], float(left.min()) + 30 * k),
            (30 * k, 20 * k),
            -1,
        )  # gastric air bubble
        if anatomy == "coronary":
            heart = ((xx - n * 0.55) / (70 * k)) ** 2 + ((yy - n * 0.6) / (55 * k)) ** 2 < 1
            lung &= ~heart
            moving += 0.1 * heart
        else:
            for _ in range(int(rng.integers(3, 7))):  # bowel gas
                paint(
                    static,
                    -0.25,
                    3 * k,
                    "ellipse",
                    (u(0.3, 0.95) * n, u(0.6, 1.0) * n),
                    (u(8, 20) * k, u(6, 14) * k),
                    -1,
                )
    lung_w = lung * mediast * (1 - 0.7 * np.exp(-(((xx - sx) / (35 * k)) ** 2)))
    moving -= 1.1 * cv2.GaussianBlur(lung_w.astype(np.float32), (0, 0), 1.5 * k)
    static -= float(np.median(static + moving))
    half = np.c_[scene[:, :2], scene[:, 2] / 2]
    dsize = ((size[1] + 1) // 2, (size[0] + 1) // 2)
    out = [
        as_f32(cv2.warpAffine(-a, half, dsize, borderMode=cv2.BORDER_REFLECT))
        for a in (static, moving)
    ]
    return out[0], out[1]


def _smooth_field(rng: np.random.Generator, cells: int, n: int) -> F32:
    """(n, n) float32 smooth random field of unit-ish amplitude, ``cells`` blobs across."""
    f = rng.standard_normal((cells, cells)).astype(np.float32)
    return as_f32(cv2.resize(f, (n, n), interpolation=cv2.INTER_CUBIC))
