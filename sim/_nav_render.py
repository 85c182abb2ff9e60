"""Fluoroscopy frames of a navigation episode: the vessel tree and catheter of
``orstream/CatheterNav-v0`` drawn by :class:`FluoroSimulator` (its physics, noise, breathing and
contrast injections), so that a tip tracker can look at them (``eval policy --perception``).

The frame shows the episode's own tree (its randomized variant, or a tree read from a file) with
the catheter from the access route through the entry to the tip lying in it. Episode mm map to
the reference view's px by the look's spacing (the anatomy kind's; a file's tree takes the
hepatic look) about the view's centre ``centre_mm`` (where the C-arm looks; by default the
reference view's centre for a built-in tree, the bounding box's centre for a file's), then to
frame px by the simulator's zoom about the image centre.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._fluoro import FluoroSimulator
from ._nav_anatomy import NAV_ANATOMIES
from ._nav_tree import NavTree
from ._vessels import ANATOMIES, F64, REF_SIZE, SPACING_MM, VesselTree

FIELD = 0.45
"""Radius of the collimated field as a share of the frame's side."""
ENTRY_LEAD_PX = 400.0
"""Length of the straight access route drawn up to the tree's entry, reference px."""


def _look(nav: NavTree) -> str:
    """The simulator anatomy whose look (spacing, background, motion) a tree is drawn with."""
    return nav.name if nav.name in ANATOMIES else "hepatic"


def _vessel_tree(nav: NavTree, to_ref: Any, mm_per_px: float) -> VesselTree:
    """``nav`` in reference-view px, rooted at its entry, with a straight access route."""
    nodes = to_ref(nav.pos)
    kids = nav.kids[nav.entry]
    ahead = nodes[kids[0]] - nodes[nav.entry] if kids else np.array([1.0, 0.0])
    ahead = ahead / max(float(np.hypot(*ahead)), 1e-9)
    entry = np.stack([nodes[nav.entry] - ENTRY_LEAD_PX * ahead, nodes[nav.entry]])
    edges = np.array([(nav.parent[a], a) for a in nav.order[1:]], dtype=np.int64).reshape(-1, 2)
    return VesselTree(
        name=nav.name,
        nodes=nodes,
        radius=np.asarray(nav.radius_mm, dtype=np.float64) / mm_per_px,
        edges=edges,
        root=nav.entry,
        entry=entry,
        entry_node=nav.entry,
    )


class NavFluoroRenderer:
    """Frames (``size`` px square) of one episode's tree and catheter (module docstring).

    ``nav``: the episode's tree; ``centre_mm``: (2,) episode mm at the image centre.
    ``mm_per_px``: episode mm per reference-view px.
    """

    def __init__(
        self, nav: NavTree, size: int = 512, seed: int = 0, centre_mm: F64 | None = None
    ) -> None:
        look = _look(nav)
        self.nav, self.mm_per_px = nav, SPACING_MM[look]
        if centre_mm is not None:
            self.centre_mm: F64 = np.asarray(centre_mm, dtype=np.float64)
        elif nav.name in NAV_ANATOMIES:  # built in the reference view: keep its place
            self.centre_mm = np.full(2, REF_SIZE / 2 * nav.mm_per_px)
        else:
            self.centre_mm = 0.5 * (nav.pos.min(0) + nav.pos.max(0))
        self.field_px = FIELD * size
        """Radius of the collimated field, frame px."""
        self.zoom, self.half = size / REF_SIZE, size / 2
        tree = _vessel_tree(nav, self._to_ref, self.mm_per_px)
        self._access_px = self.zoom * (tree.entry[0] - REF_SIZE / 2) + self.half
        self.sim = FluoroSimulator(
            seed,
            size=(size, size),
            anatomy=look,
            randomize=False,
            use_real_centerlines=False,
            tree=tree,
        )

    def _to_ref(self, mm: F64) -> F64:
        out: F64 = (np.asarray(mm) - self.centre_mm) / self.mm_per_px + REF_SIZE / 2
        return out

    def to_px(self, mm: F64) -> F64:
        """(N, 2) episode mm -> (N, 2) frame px."""
        out: F64 = self.zoom * (self._to_ref(mm) - REF_SIZE / 2) + self.half
        return out

    def to_mm(self, px: F64) -> F64:
        """(N, 2) frame px -> (N, 2) episode mm."""
        ref = (np.asarray(px) - self.half) / self.zoom + REF_SIZE / 2
        out: F64 = (ref - REF_SIZE / 2) * self.mm_per_px + self.centre_mm
        return out

    def render(self, catheter_mm: F64, index: int) -> tuple[Any, F64]:
        """Frame ``index`` with the catheter (N, 2) mm, tip first, up to the tree's entry (the
        straight access route beyond it is added): (image (H, W) uint16, the true tip px (2,),
        breathing included)."""
        self.sim.set_catheter(np.vstack([self.to_px(catheter_mm), self._access_px]))
        frame = self.sim.render(index)
        return frame.image, np.asarray(frame.truth["tip_px"], dtype=np.float64)
