"""Segmentation-like errors on ProbeNav's label map, for training policies that will see
segmented B-mode frames.

A perfect label map gives chamber features a segmentation of a real frame does not: the
principal axis of a nearly round atrium or of the myocardial ring flips with a few pixels of
outline. :class:`MaskNoise` warps the label map each step by a smooth random displacement
field (a coarse grid of Gaussian shifts, upsampled) before the features are taken, drawing from
the environment's seeded generator, so that a policy learns not to lean on what a segmentation
cannot hold. Its default amplitude was set so that the feature errors match those of the echo
model on rendered frames (``orstream.policies.ProbePerception``; docs/policies/probe-nav-v1.md).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
MISSABLE = (3, 4, 5)
"""Label indices (RV, LA, RA) a segmentation may miss in a frame (``LABEL_NAMES``)."""


class MaskNoise:
    """A ProbeNav ``observer`` for training: env -> chamber features of the label map warped by
    a smooth random displacement (``shift_px`` standard deviation per axis, px of the map, on a
    grid of ``grid`` x ``grid`` knots, upsampled bicubically), 0 outside the sector, with each
    of the RV and the two atria missed (made background) with probability ``miss``."""

    def __init__(self, shift_px: float = 1.0, grid: int = 12, miss: float = 0.05) -> None:
        if shift_px < 0 or grid < 2 or not 0.0 <= miss <= 1.0:
            raise ValueError(
                f"need shift_px >= 0, grid >= 2 and miss in [0, 1]; got {shift_px}, {grid}, {miss}"
            )
        self.shift_px, self.grid, self.miss = float(shift_px), int(grid), float(miss)

    def __call__(self, env: Any) -> F32:
        view = env.view
        labels = view.labels(view.pose(env.offset))
        h, w = labels.shape
        rng = env.np_random
        knots = rng.normal(0.0, self.shift_px, (2, self.grid, self.grid))
        dx, dy = (
            cv2.resize(k.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) for k in knots
        )
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        warped = cv2.remap(labels, xs + dx, ys + dy, cv2.INTER_NEAREST, borderValue=0)
        warped = np.where(view.sector, warped, 0).astype(np.uint8)
        for label in MISSABLE:
            if rng.uniform() < self.miss:
                warped[warped == label] = 0
        return np.asarray(view.features(warped), np.float32)
