"""Fluoroscopy frames of a navigation episode: the catheter of ``orstream/CatheterNav-v0``
drawn by :class:`FluoroSimulator` (its physics, noise and vessels), so that a tip tracker can
look at it (``eval policy --perception``).

The frame shows the simulator's own vessel tree of the same anatomy kind at its nominal pose
("hepatic-real": the same real tree; procedural kinds: the simulator's draw, not the episode's),
and the episode's catheter from the entry to the tip. Detector px and episode mm map by the
reference view's spacing and the simulator's zoom about the image centre.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._fluoro import FluoroSimulator
from ._vessels import F64, REF_SIZE


class NavFluoroRenderer:
    """Frames (``size`` px square) of a catheter given in episode mm (see the module docstring).

    ``anatomy``: a ``NAV_ANATOMIES`` kind; ``mm_per_px``: the episode tree's reference spacing.
    """

    def __init__(self, anatomy: str, mm_per_px: float, size: int = 512, seed: int = 0) -> None:
        kind = "hepatic" if anatomy == "hepatic-real" else anatomy
        self.sim = FluoroSimulator(
            seed,
            size=(size, size),
            anatomy=kind,
            randomize=False,
            use_real_centerlines=False,
        )
        self.zoom, self.half, self.mm_per_px = size / REF_SIZE, size / 2, mm_per_px

    def to_px(self, mm: F64) -> F64:
        """(N, 2) episode mm -> (N, 2) frame px."""
        out: F64 = self.zoom * (np.asarray(mm) / self.mm_per_px - REF_SIZE / 2) + self.half
        return out

    def to_mm(self, px: F64) -> F64:
        """(N, 2) frame px -> (N, 2) episode mm."""
        out: F64 = ((np.asarray(px) - self.half) / self.zoom + REF_SIZE / 2) * self.mm_per_px
        return out

    def render(self, catheter_mm: F64, index: int) -> tuple[Any, F64]:
        """Frame ``index`` with the catheter (N, 2) mm, tip first: (image (H, W) uint16, the
        true tip px (2,), breathing included)."""
        self.sim.set_catheter(self.to_px(catheter_mm))
        frame = self.sim.render(index)
        return frame.image, np.asarray(frame.truth["tip_px"], dtype=np.float64)
