"""Where the echo simulator's septal dropout applies: the interventricular septum in beam space."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from ._bmode import SectorGeometry
from ._heart import CLS_LV, CLS_MYO, CLS_RV

SEPTUM_REACH_MM = 8.0
"""Myocardium within this distance of both the LV and the RV cavity counts as septum."""


def septum_weight(labels: npt.NDArray[np.uint8], geom: SectorGeometry) -> npt.NDArray[np.float32]:
    """(samples, beams) weight in [0, 1] from beam-space ``labels``: 1 on the interventricular
    septum (myocardium within ``SEPTUM_REACH_MM`` of both the LV and the RV), blurred by half
    that reach so that it covers the septum's motion over a beat; zeros without an RV."""
    mid_mm = 0.5 * geom.depth_mm * math.radians(geom.angle_deg / (geom.n_beams - 1))
    ky, kx = (max(1, round(SEPTUM_REACH_MM / step)) for step in (geom.sample_mm, mid_mm))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * kx + 1, 2 * ky + 1))
    near_lv, near_rv = (
        cv2.dilate((labels == lab).astype(np.uint8), kernel) for lab in (CLS_LV, CLS_RV)
    )
    septum: npt.NDArray[np.float32] = ((labels == CLS_MYO) & (near_lv > 0) & (near_rv > 0)).astype(
        np.float32
    )
    if not septum.any():
        return septum
    blurred = np.asarray(cv2.GaussianBlur(septum, (0, 0), sigmaX=kx / 2.0, sigmaY=ky / 2.0))
    weight: npt.NDArray[np.float32] = np.minimum(
        1.0, blurred / max(float(blurred.max()) * 0.6, 1e-6)
    ).astype(np.float32)
    return weight
