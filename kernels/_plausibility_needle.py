"""Is a needle mask a needle? An in-plane needle is a line: one thin, straight, elongated
component with its tip at one end.

:func:`needle_plausibility` on a (H, W) needle mask (nonzero = needle) and the tip (x, y) px
(None when no tip was found). An empty mask is "no needle": no check runs and the verdict is
plausible. Checks:

- ``one_needle``: at least :data:`NEEDLE_MAIN_SHARE` of the needle pixels lie on the line
  of the largest 8-connected component (in it, or in pieces in line with it: a needle broken
  into segments is still one needle);
- ``line``: that line is at least :data:`NEEDLE_MIN_LENGTH` x the frame's larger side long
  (a speck is not a line) and elongated: the ratio of the standard deviations of the
  component's pixels along and across their principal axis is at least
  :data:`NEEDLE_ELONGATION`;
- ``thin``: 95 % of the component's pixels lie within :data:`NEEDLE_THIN` x the larger side
  of the fitted line (an arc or a blob does not);
- ``tip_at_end`` (with a tip): the tip lies within :data:`TIP_END_SHARE` x the line's length
  of one of its ends (along the line) and within :data:`NEEDLE_THIN` x the larger side of it.

Thresholds come from the us-needle **validation** seeds (200 seeds, 2 frames each, 160 rows;
the test seeds stay for docs/models/us-needle.md; ``python scripts/plausibility.py
thresholds``): just outside the range of the simulator's true needles where they have one,
and where the truth is always perfect (one component, tip exactly at the end) at the 5th or
95th percentile of the model's right detections on those frames, so that about 5 % of right
detections fail each such check.
"""

from __future__ import annotations

import math
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from ._plausibility import Plausibility, _as_2d, _xy, components, verdict

NEEDLE_CHECKS: Final = ("one_needle", "line", "thin", "tip_at_end")
NEEDLE_MAIN_SHARE: Final = 0.85
"""Least share of the needle pixels on the main line (true needles: always 1.0; the 5th
percentile of the model's right detections on validation frames: 0.857)."""
NEEDLE_MIN_LENGTH: Final = 0.06
"""Least length of the line (share of the larger side; 9.6-12.8 px of 160-213): true needles
shorter than 10 px (23 of 286 on validation frames, entering needles) are as round as specks
(elongation down to 1.2) and fail; from 10 px on their elongation is 2.65 or more."""
NEEDLE_ELONGATION: Final = 2.4
"""Least ratio of the along- to across-axis standard deviation (true needles at least
10 px long: min 2.65, median 13.8; right detections' 5th percentile 2.44)."""
NEEDLE_THIN: Final = 0.02
"""Largest distance (share of the frame's larger side) of 95 % of the pixels from the line
(true needles: max 0.016); also the tip's largest distance from the line (true: max 0.006)."""
TIP_END_SHARE: Final = 0.12
"""Largest distance (share of the line's length, along it) of the tip from the nearest end
(true tips on true needles at least 10 px long: max 0.04; right detections' 95th percentile:
0.118, their masks being a little shorter or longer than the needle)."""
NEEDLE_CHECK_SIDE_PX: Final = 256
"""The needle checks run on the mask shrunk to at most this larger side (the model's masks
come from 128 x 128 logits; the figures are shares of the side, so they keep their scale)."""
_ACROSS_VAR_MIN: Final = 1.0 / 12.0  # variance across a 1-px line of pixel centres


def needle_shape_figures(
    mask: npt.ArrayLike, tip: tuple[float, float] | None = None
) -> dict[str, float]:
    """The figures the needle checks compare with their thresholds, for a (H, W) needle mask
    (nonzero = needle) and an optional tip (x, y) px. Keys: ``needle_px``; for a non-empty
    mask ``main_share``, ``elongation``, ``width`` (95th percentile distance from the line,
    share of the larger side), ``length_px``, ``side_px`` (the larger side); with a tip
    ``tip_end`` (along-line distance from the nearest end, share of the length) and
    ``tip_off`` (distance from the line, share of the larger side); ``length_px`` and
    ``side_px`` at :data:`NEEDLE_CHECK_SIDE_PX` at most."""
    m = _as_2d(mask, "needle") != 0
    scale = min(1.0, NEEDLE_CHECK_SIDE_PX / max(m.shape))
    if scale < 1.0:  # area-shrink, any coverage counts: a thin line stays connected
        size = (max(1, round(m.shape[1] * scale)), max(1, round(m.shape[0] * scale)))
        m = cv2.resize(m.view(np.uint8) * np.uint8(255), size, interpolation=cv2.INTER_AREA) != 0
        if tip is not None:
            tip = ((tip[0] + 0.5) * scale - 0.5, (tip[1] + 0.5) * scale - 0.5)
    main, _, _ = components(m)
    total = int(m.sum())
    out: dict[str, float] = {"needle_px": float(total)}
    if total == 0:
        return out
    side = float(max(m.shape))
    xy = _xy(main)
    centre = xy.mean(axis=0)
    evals, evecs = np.linalg.eigh((xy - centre).T @ (xy - centre) / len(xy))
    normal, axis = evecs[:, 0], evecs[:, 1]  # eigh: ascending, the last is the principal axis
    across = np.abs((xy - centre) @ normal)
    every = _xy(m) - centre
    reach = max(NEEDLE_THIN * side, float(across.max()))
    on_line = np.abs(every @ normal) <= reach  # the main part and pieces in line with it
    along = every[on_line] @ axis
    lo, hi = float(along.min()), float(along.max())
    length = hi - lo + 1.0
    out |= {
        "main_share": float(on_line.mean()),
        "elongation": math.sqrt(max(evals[1], _ACROSS_VAR_MIN) / max(evals[0], _ACROSS_VAR_MIN)),
        "width": float(np.quantile(across, 0.95)) / side,
        "length_px": length,
        "side_px": side,
    }
    if tip is not None and all(math.isfinite(v) for v in tip):
        t = np.asarray(tip, np.float64) - centre
        s = float(t @ axis)
        out["tip_end"] = min(abs(s - lo), abs(s - hi)) / length
        out["tip_off"] = abs(float(t @ normal)) / side
    return out


def needle_plausibility(
    mask: npt.ArrayLike, tip: tuple[float, float] | None = None
) -> Plausibility:
    """The needle checks (module doc) on a (H, W) needle mask (nonzero = needle) and the
    found tip (x, y) px, or None when no tip was found; an empty mask passes (no needle)."""
    f = needle_shape_figures(mask, tip)
    if f["needle_px"] == 0:
        return verdict({})
    results = {
        "one_needle": f["main_share"] >= NEEDLE_MAIN_SHARE,
        "line": f["length_px"] >= NEEDLE_MIN_LENGTH * f["side_px"]
        and f["elongation"] >= NEEDLE_ELONGATION,
        "thin": f["width"] <= NEEDLE_THIN,
    }
    if "tip_end" in f:
        results["tip_at_end"] = f["tip_end"] <= TIP_END_SHARE and f["tip_off"] <= NEEDLE_THIN
    return verdict(results)
