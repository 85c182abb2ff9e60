"""The catheter in a fluoroscopy frame: its body and radiopaque tip marker drawn as
anti-aliased line integrals into the attenuation map, and its pixels labelled."""

from __future__ import annotations

import cv2
import numpy as np

from ._catheter import arc_length
from ._fluoro_body import F32, F64, U8


def draw_catheter(
    pts: F64,
    neg: F32,
    labels: U8,
    *,
    thick_px: int,
    marker_px: float,
    mu: tuple[float, float],
) -> None:
    """Subtract the catheter body, then its tip marker, from ``neg``; label them 1.

    ``pts``: (M, 2) float64 centerline px, tip first; ``neg``: (H, W) float32 negative line
    integrals, changed in place; ``labels``: (H, W) uint8, catheter pixels set to 1;
    ``thick_px``: the catheter's width; ``marker_px``: the tip marker's length along the line;
    ``mu``: line integrals across the body's axis and across the marker.

    The end is an anti-aliased convex polygon, a half disc whose apex is the tip; the lines
    behind it (whose round caps reach ~0.7 px past their ends) start 1 px further back.
    Label: >= 50 % pixel coverage for the body, >= 25 % for the marker (the tip's pixel).
    """
    h, w = neg.shape
    r, s = thick_px / 2, arc_length(pts)

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
    marker = body[: max(2, int(np.sum(s <= marker_px)))]
    for part, part_mu, cover in ((body, mu[0], 128), (marker, mu[1], 64)):
        lo = np.maximum(np.floor(np.vstack([part, end]).min(0) - thick_px), 0).astype(int)
        hi = np.minimum(np.ceil(part.max(0) + thick_px), [w - 1, h - 1]).astype(int)
        if np.any(hi < lo):
            continue
        canvas = np.zeros((hi[1] - lo[1] + 1, hi[0] - lo[0] + 1), dtype=np.uint8)
        fixed = np.round((part - lo) * 16).astype(np.int32)
        cv2.polylines(canvas, [fixed], False, 255, thick_px, cv2.LINE_AA, 4)
        cv2.fillConvexPoly(canvas, np.round((end - lo) * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
        roi = neg[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
        cv2.scaleAdd(canvas.astype(np.float32), -part_mu / 255.0, roi, dst=roi)
        labels[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1][canvas >= cover] = 1
