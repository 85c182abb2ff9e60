"""The echo simulator's documentation panel (``docs/sim-echo.png``), drawn with OpenCV only.

    python -c "import cv2; from orstream.sim._echo_panel import echo_panel; \
        cv2.imwrite('docs/sim-echo.png', echo_panel())"
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from ._echo import EchoSimulator
from ._protocol import SimFrame

_CONTOUR_BGR = {
    1: (60, 60, 255),
    2: (0, 220, 255),
    3: (80, 220, 80),
    4: (255, 140, 60),
    5: (255, 255, 0),
}


def _overlay(frame: SimFrame, scale: int) -> npt.NDArray[np.uint8]:
    """Upsampled BGR image with the label contours drawn on it."""
    h, w = frame.image.shape
    big = cv2.resize(frame.image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
    out = np.asarray(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR), np.uint8)
    lab = cv2.resize(frame.labels, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    for c, bgr in _CONTOUR_BGR.items():
        cs, _ = cv2.findContours(
            (lab == c).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, cs, -1, bgr, 1, cv2.LINE_AA)
    return out


def _gray_bgr(img: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    big = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.asarray(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR), np.uint8)


def _text(img: npt.NDArray[np.uint8], s: str, xy: tuple[int, int], size: float = 0.45) -> None:
    cv2.putText(img, s, xy, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA)


def echo_panel(seed: int = 1, ef: float = 0.55, hr_bpm: float = 75.0) -> npt.NDArray[np.uint8]:
    """A BGR figure: A4C and A2C at ED and ES (raw, and with truth contours), domain-randomized
    A4C frames, and the true LV volume and mask-area curves of a 2 s clip with ED/ES marks."""
    tile, rows = 256, []
    for view in ("a4c", "a2c"):
        sim = EchoSimulator(seed, ef=ef, hr_bpm=hr_bpm, view=view, randomize=False)
        clip = [sim.render(i) for i in range(int(sim.fps * 60 / hr_bpm) + 1)]
        ed = next(f for f in clip if f.truth["ed"])
        es = next(f for f in clip if f.truth["es"])
        tiles = []
        for f, name in ((ed, "ED"), (es, "ES")):
            raw = _gray_bgr(f.image, tile)
            _text(raw, f"{view.upper()} {name}  t={f.t_s:.2f} s", (6, 16))
            ovl = _overlay(f, tile // f.image.shape[0])
            _text(
                ovl,
                f"LV {f.truth['lv_volume_ml']:.0f} ml, {f.truth['lv_area_mm2'] / 100:.1f} cm2",
                (6, 16),
            )
            tiles += [raw, ovl]
        rows.append(np.hstack(tiles))
    rand = []
    for s in range(4):
        f = EchoSimulator(seed + 10 + s, view=("a4c", "a2c", "a4c", "a2c")[s]).render(7 * s)
        t = _gray_bgr(f.image, tile)
        _text(t, f"randomized seed {seed + 10 + s} {f.truth['view']}", (6, 16))
        rand.append(t)
    rows.append(np.hstack(rand))
    # Volume and area curves of a 2 s A4C clip.
    sim = EchoSimulator(seed, ef=ef, hr_bpm=hr_bpm, view="a4c", randomize=False)
    clip = [sim.render(i) for i in range(int(2 * sim.fps))]
    vol = np.array([f.truth["lv_volume_ml"] for f in clip])
    area = np.array([f.truth["lv_area_mm2"] for f in clip])
    plot = np.zeros((220, 4 * tile, 3), np.uint8)
    x0, x1, y0, y1 = 60, 4 * tile - 20, 200, 30
    t = np.array([f.t_s for f in clip])
    xs = x0 + (t - t[0]) / (t[-1] - t[0]) * (x1 - x0)
    vlo, vhi = 0.0, float(vol.max()) * 1.1
    cv2.line(plot, (x0, y0), (x1, y0), (160, 160, 160), 1)
    cv2.line(plot, (x0, y0), (x0, y1), (160, 160, 160), 1)
    for v in np.arange(0, vhi, 25.0):
        y = int(y0 - (v - vlo) / (vhi - vlo) * (y0 - y1))
        cv2.line(plot, (x0 - 4, y), (x0, y), (160, 160, 160), 1)
        _text(plot, f"{v:.0f}", (x0 - 40, y + 4), 0.4)
    ys_v = y0 - (vol - vlo) / (vhi - vlo) * (y0 - y1)
    ys_a = y0 - area / area.max() * float(vol.max()) / (vhi - vlo) * (y0 - y1)
    for ys, bgr in ((ys_a, (120, 120, 120)), (ys_v, (60, 60, 255))):
        pts = np.stack([xs, ys], axis=1).round().astype(np.int32)
        cv2.polylines(plot, [pts], False, bgr, 2, cv2.LINE_AA)
    for f, x, y in zip(clip, xs, ys_v, strict=True):
        if f.truth["ed"] or f.truth["es"]:
            bgr = (0, 220, 255) if f.truth["ed"] else (255, 160, 60)
            cv2.circle(plot, (int(x), int(y)), 5, bgr, -1, cv2.LINE_AA)
    d = sim.describe()
    _text(
        plot,
        f"true LV volume (ml, red) and mask area (scaled, grey) vs time, 0-{t[-1]:.1f} s;  "
        f"ED yellow, ES blue;  EF {d['ef']:.2f}  HR {d['hr_bpm']:.0f} bpm  "
        f"EDV {d['edv_ml']:.0f} ml  ESV {d['esv_ml']:.0f} ml",
        (x0, 18),
        0.45,
    )
    rows.append(plot)
    return np.vstack(rows)
