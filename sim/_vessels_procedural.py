"""Procedural vessel trees for the fluoroscopy simulator (seed-driven, no real data needed).

Hand-placed main trunks per anatomy with random curl and recursive random branching below
them; coordinates are detector px of the reference view, as in ``_vessels``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ._catheter import catmull_rom, resample
from ._vessels import ANATOMIES, F64, MAG, SPACING_MM, VesselTree

# Procedural trees: (name, parent name, attach fraction along the parent, heading deg (0 = +x,
# 90 = down), length px, radius mm at the patient, random branching depth, curl rad/px, explicit
# control points (replace heading/length) or None).
_Spec = tuple[str, str, float, float, float, float, int, float, list[tuple[float, float]] | None]
_SPECS: dict[str, list[_Spec]] = {
    "hepatic": [
        ("aorta", "", 0, 0, 0, 10.0, 0, 0.0, [(500, 1150), (505, 800), (510, 560), (498, 430)]),
        ("cha", "aorta", 0.62, 195, 300, 2.8, 4, 0.006, None),
        ("splenic", "aorta", 0.63, -10, 430, 2.5, 1, 0.012, None),
        ("gastric", "aorta", 0.66, -75, 180, 1.3, 1, 0.008, None),
    ],
    "coronary": [
        ("lm", "", 0, 0, 0, 2.2, 0, 0.0, [(430, 330), (470, 345), (505, 362)]),
        ("lad", "lm", 1.0, 55, 700, 1.8, 3, 0.004, None),
        ("lcx", "lm", 1.0, 125, 520, 1.6, 2, 0.005, None),
    ],
    "arch": [
        (
            "aorta",
            "",
            0,
            0,
            0,
            13.0,
            0,
            0.0,
            [(420, 1150), (395, 760), (420, 460), (550, 330), (680, 420), (710, 700), (715, 1150)],
        ),
        ("bct", "aorta", 0.43, -110, 170, 6.0, 0, 0.0, None),
        ("rsub", "bct", 1.0, -160, 420, 4.5, 1, 0.002, None),
        ("rcca", "bct", 1.0, -95, 520, 3.5, 1, 0.001, None),
        ("lcca", "aorta", 0.485, -88, 650, 3.5, 1, 0.001, None),
        ("lsub", "aorta", 0.53, -70, 500, 4.5, 1, 0.003, None),
    ],
}
_ENTRY: dict[str, list[tuple[float, float]]] = {
    "hepatic": [(500, 1400), (500, 1150)],
    "coronary": [(250, -300), (260, 0), (300, 200), (360, 300), (430, 330)],
    "arch": [(715, 1400), (715, 1150)],
}
_STEP_PX = 6.0


class _Builder:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[F64] = []
        self.radius: list[float] = []
        self.edges: list[tuple[int, int]] = []

    def add(self, pts: F64, r0: float, r1: float, parent: int) -> list[int]:
        ids = list(range(len(self.nodes), len(self.nodes) + len(pts)))
        self.nodes.extend(pts)
        self.radius.extend(np.linspace(r0, r1, len(pts)).tolist())
        chain = ([parent] if parent >= 0 else []) + ids
        self.edges.extend(itertools.pairwise(chain))
        return ids

    def grow(self, start: F64, heading: float, length: float, r_mm: float, **kw: Any) -> list[int]:
        """A curling branch (and, ``kw["depth"]`` deep, its children) from node kw["parent"]."""
        depth, curl, parent = int(kw["depth"]), float(kw["curl"]), int(kw["parent"])
        n = max(3, int(length / _STEP_PX))
        turn = np.convolve(self.rng.normal(0, curl * _STEP_PX * 4, n + 6), np.ones(7) / 7, "valid")
        ang = np.deg2rad(heading) + np.cumsum(turn[:n])
        pts = start + np.cumsum(_STEP_PX * np.c_[np.cos(ang), np.sin(ang)], axis=0)
        ids = self.add(pts, r_mm, r_mm * 0.8, parent)
        if depth > 0 and r_mm > 0.5:  # side branches, then a bifurcation at the end
            u = self.rng.uniform

            def sign() -> float:
                return float(self.rng.choice([-1.0, 1.0]))

            fracs = np.sort(u(0.2, 0.85, int(self.rng.integers(1, 3))))
            kids = [(int(f * (n - 1)), sign() * u(35, 65), u(0.35, 0.6), 0.62) for f in fracs]
            side = sign()
            kids += [(n - 1, side * u(10, 25), u(0.6, 0.85), 0.8)]
            kids += [(n - 1, -side * u(30, 50), u(0.45, 0.7), 0.7)]
            for i, turn_deg, scale, shrink in kids:
                heading_i = float(np.rad2deg(ang[i])) + turn_deg
                kw = {"depth": depth - 1, "curl": curl * 1.3, "parent": ids[i]}
                self.grow(pts[i], heading_i, length * scale, r_mm * shrink, **kw)
        return ids


def procedural_tree(anatomy: str, rng: np.random.Generator) -> VesselTree:
    """A seed-driven vessel tree for ``anatomy`` ("hepatic", "arch" or "coronary").

    Hand-placed main trunks (aorta and its branches, left main coronary) with random curl and
    recursive random branching below them; radii taper from the given mm at the patient.
    """
    if anatomy not in _SPECS:
        raise ValueError(f"anatomy must be one of {ANATOMIES}, got {anatomy!r}")
    b = _Builder(rng)
    ids: dict[str, list[int]] = {}
    for name, parent, frac, heading, length, r_mm, depth, curl, via in _SPECS[anatomy]:
        if via is not None:
            pts = resample(catmull_rom(np.array(via, dtype=np.float64), 16), _STEP_PX)
            ids[name] = b.add(pts, r_mm, r_mm * 0.9, -1 if not parent else ids[parent][-1])
            continue
        pid = ids[parent][min(int(frac * len(ids[parent])), len(ids[parent]) - 1)]
        kw = {"depth": depth, "curl": curl, "parent": pid}
        turn = heading + rng.normal(0, 4.0)
        ids[name] = b.grow(b.nodes[pid], turn, length * rng.uniform(0.85, 1.15), r_mm, **kw)
    nodes = np.array(b.nodes, dtype=np.float64)
    radius = np.array(b.radius) * MAG / SPACING_MM[anatomy]
    entry = np.array(_ENTRY[anatomy], dtype=np.float64)
    entry_node = int(np.argmin(np.linalg.norm(nodes - entry[-1], axis=1)))
    return VesselTree(
        anatomy, nodes, radius, np.array(b.edges, dtype=np.int64), 0, entry, entry_node
    )
