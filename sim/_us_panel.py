"""Truth overlays and the documentation panel of the ultrasound simulator (OpenCV only).

``python -m orstream.sim._us_panel docs/sim-us.png`` rewrites the panel in the docs.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import numpy.typing as npt

from ._protocol import SimFrame
from ._us import UltrasoundSimulator

U8 = npt.NDArray[np.uint8]

COLOURS_BGR = {1: (0, 220, 255), 2: (60, 60, 255), 3: (80, 255, 80)}
"""Contour colour of each label: nerve yellow, vessel red, needle green."""
TIP_BGR = (255, 80, 255)
TILE = 320
"""Side of one panel tile, px."""


def truth_overlay(frame: SimFrame, scale: int = 2) -> U8:
    """The frame's image, upscaled ``scale`` times, as (H*scale, W*scale, 3) uint8 BGR with the
    label contours (nerve yellow, vessel red, needle green) and the needle tip (magenta cross)."""
    img = cv2.resize(frame.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    out = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    big = cv2.resize(frame.labels, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for label, colour in COLOURS_BGR.items():
        contours, _ = cv2.findContours(
            (big == label).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, contours, -1, colour, 1, cv2.LINE_AA)
    tip = frame.truth.get("needle_tip_px")
    if tip is not None and frame.truth.get("needle_visible"):
        x, y = (round((v + 0.5) * scale - 0.5) for v in tip)
        cv2.drawMarker(out, (x, y), TIP_BGR, cv2.MARKER_CROSS, 6 * scale, 1, cv2.LINE_AA)
    return np.asarray(out, np.uint8)


def _tile(img: npt.NDArray[np.uint8]) -> U8:
    """A TILE x TILE BGR tile of a grey or BGR uint8 image."""
    if img.ndim == 2:
        img = np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), np.uint8)
    interp = cv2.INTER_AREA if img.shape[0] > TILE else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(img, (TILE, TILE), interpolation=interp), np.uint8)


def _caption(img: U8, text: str) -> None:
    cv2.putText(
        img, text, (6, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA
    )
    cv2.putText(
        img,
        text,
        (6, img.shape[0] - 8),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )


def demo_panel(
    seeds: tuple[int, ...] = (2, 30, 34, 37), times_s: tuple[float, ...] = (1.5, 3.0, 4.5, 6.0)
) -> U8:
    """Rows: one frame per seed (image, then truth overlay), and one seed over time."""
    tiles_raw, tiles_ovl = [], []
    for seed in seeds:
        sim = UltrasoundSimulator(seed)
        index = _needle_frame(sim)
        fr = sim.render(index)
        raw = _tile(fr.image)
        _caption(raw, f"seed {seed}  depth {sim.depth_mm:.0f} mm")
        ovl = _tile(truth_overlay(fr, 2))
        _caption(
            ovl,
            f"t {fr.t_s:.1f} s  {fr.truth['needle_phase']}  {fr.truth['needle_angle_deg']:.0f} deg",
        )
        tiles_raw.append(raw)
        tiles_ovl.append(ovl)
    sim = UltrasoundSimulator(seeds[0])
    tiles_time = []
    for t in times_s:
        fr = sim.render(round(t * sim.fps))
        ovl = _tile(truth_overlay(fr, 2))
        _caption(
            ovl, f"seed {seeds[0]}  t {t:.1f} s  insert {fr.truth['insertion_depth_mm']:.0f} mm"
        )
        tiles_time.append(ovl)
    rows = [np.hstack(tiles_raw), np.hstack(tiles_ovl), np.hstack(tiles_time)]
    return np.asarray(np.vstack(rows), np.uint8)


def _needle_frame(sim: UltrasoundSimulator) -> int:
    """A frame of the first pass with the needle tip well inside the image (or frame 0)."""
    best, best_depth = 0, -1.0
    for i in range(0, int(sim.pass_s * sim.fps), 5):
        tr = sim.render(i).truth
        if tr["needle_visible"] and tr["insertion_depth_mm"] > best_depth:
            best, best_depth = i, tr["insertion_depth_mm"]
    return best


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/sim-us.png"
    if not cv2.imwrite(path, demo_panel(), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"could not write {path}")
    print(path)
