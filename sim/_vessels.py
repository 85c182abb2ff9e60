"""Vessel trees for the fluoroscopy simulator: the real 3D hepatic tree projected, or procedural.

Coordinates are detector px of the reference view (1024x1024 at ``SPACING_REF_MM``; x =
column, y = row, pixel centres at integer coordinates). Radii are projected lumen radii in px.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ._catheter import catmull_rom, resample

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

REF_SIZE = 1024
SPACING_REF_MM = 0.25355859375
"""Detector pixel spacing of the real view (dataset1), mm/px."""
SDD_MM, SOD_MM = 1113.0, 810.0
MAG = SDD_MM / SOD_MM
"""Geometric magnification at the patient (source-to-detector over source-to-object)."""
ANATOMIES = ("hepatic", "arch", "coronary")
SPACING_MM = {"hepatic": SPACING_REF_MM, "coronary": 0.2, "arch": 0.42}
"""Detector pixel spacing (mm/px at 1024x1024) of each anatomy's view (the arch needs more)."""


@dataclass(frozen=True)
class VesselTree:
    """A vessel centerline graph.

    ``nodes``: (N, 2) px; ``radius``: (N,) projected lumen radius, px; ``edges``: (E, 2) node
    ids (parent, child), oriented away from ``root`` (where blood comes from); ``entry``: (M, 2)
    px, the access route from outside the view to node ``entry_node`` (catheters come that way).
    """

    name: str
    nodes: F64
    radius: F64
    edges: I64
    root: int
    entry: F64
    entry_node: int

    def transformed(self, m: F64) -> VesselTree:
        """The tree under the 2x3 affine ``m`` (px -> px); radii scale by sqrt(|det|)."""
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        return replace(
            self,
            nodes=self.nodes @ m[:, :2].T + m[:, 2],
            radius=self.radius * scale,
            entry=self.entry @ m[:, :2].T + m[:, 2],
        )

    def _children(self) -> list[list[int]]:
        kids: list[list[int]] = [[] for _ in range(len(self.nodes))]
        for a, b in self.edges:
            kids[int(a)].append(int(b))
        return kids

    def parents(self) -> I64:
        """(N,) parent id of each node, -1 for the root."""
        par = np.full(len(self.nodes), -1, dtype=np.int64)
        par[self.edges[:, 1]] = self.edges[:, 0]
        return par

    def subtree_sizes(self) -> I64:
        """(N,) number of nodes downstream of each node, itself included."""
        par, order = self.parents(), [self.root]
        kids = self._children()
        for a in order:
            order.extend(kids[a])
        size = np.ones(len(self.nodes), dtype=np.int64)
        for a in reversed(order[1:]):
            size[par[a]] += size[a]
        return size

    def leaves(self) -> I64:
        """Ids of the nodes without children."""
        has_kid = np.zeros(len(self.nodes), dtype=bool)
        has_kid[self.edges[:, 0]] = True
        return np.flatnonzero(~has_kid).astype(np.int64)

    def path(self, a: int, b: int) -> I64:
        """Node ids along the tree from ``a`` to ``b`` (both included)."""
        par = self.parents()

        def up(n: int) -> list[int]:
            out = [n]
            while par[out[-1]] >= 0:
                out.append(int(par[out[-1]]))
            return out

        ua, ub = up(a), up(b)
        common = next(n for n in ua if n in set(ub))
        return np.array(ua[: ua.index(common) + 1] + ub[: ub.index(common)][::-1], dtype=np.int64)

    def distance_px(self, source: int, within: npt.NDArray[np.bool_] | None = None) -> F64:
        """(N,) path length in px along the tree (either way) from ``source`` to every node.

        With ``within`` (N,) bool (the field of view), paths that leave it once inside stop.
        """
        nbrs: list[list[int]] = [[] for _ in range(len(self.nodes))]
        for a, b in self.edges:
            nbrs[int(a)].append(int(b))
            nbrs[int(b)].append(int(a))
        dist = np.full(len(self.nodes), np.inf)
        dist[source] = 0.0
        queue = deque([source])
        while queue:
            a = queue.popleft()
            for b in nbrs[a]:
                leaves = within is not None and within[a] and not within[b]
                if dist[b] == np.inf and not leaves:
                    dist[b] = dist[a] + float(np.linalg.norm(self.nodes[b] - self.nodes[a]))
                    queue.append(b)
        return dist

    def downstream_mm(self, source: int, mm_per_px: float) -> F64:
        """(N,) path length in mm from ``source`` to each node downstream of it (1e9 elsewhere)."""
        dist = np.full(len(self.nodes), 1e9)
        dist[source] = 0.0
        kids = self._children()
        queue = deque([source])
        while queue:
            a = queue.popleft()
            for b in kids[a]:
                step = float(np.linalg.norm(self.nodes[b] - self.nodes[a])) * mm_per_px
                dist[b] = dist[a] + step
                queue.append(b)
        return dist

    def graph(self) -> dict[str, Any]:
        """JSON-able centerline graph: nodes [[x, y] px], radius_px, edges [[parent, child]]."""
        return {
            "nodes_px": np.round(self.nodes, 2).tolist(),
            "radius_px": np.round(self.radius, 2).tolist(),
            "edges": self.edges.tolist(),
            "root": self.root,
        }


def _matrices(path: Path) -> dict[str, F64]:
    """The ``# name`` headed 4x4 matrices (and numbers) of a dataset1 info/fusion text file."""
    out: dict[str, F64] = {}
    name, rows = "", list[list[float]]()
    for line in [*path.read_text().splitlines(), "#"]:
        s = line.strip()
        if s.startswith("#"):
            if name and rows and all(len(r) == 4 for r in rows[:4]) and len(rows) >= 4:
                out[name] = np.array(rows[:4], dtype=np.float64)
            name, rows = s.lstrip("#").strip(), []
        elif s and s[0] in "-0123456789.":
            rows.append([float(v) for v in s.split()])
    return out


def load_hepatic_tree(dataset: Path) -> VesselTree:
    """The real 3D hepatic tree of ``dataset1`` (Ambrosini et al.) projected on its C-arm view.

    Chain: voxel -> mm (``3dra_0001_info.txt``), the 2D/3D registration of frame 0
    (``fusion/``), world -> C-arm and the C-arm projection (``fluoro/infoFluoroTransformations``),
    mm -> detector px. Radii (mm at the patient) are magnified by each node's own depth.
    """
    center = dataset / "3dra" / "3dra_0001_3.0_vesselsStructCenterline.txt"
    try:
        lines = center.read_text().splitlines()
        n, root = int(lines[0]), int(lines[1])
        vals = [[float(v) for v in lines[2 + 2 * i].strip(" ;\n").split(";")] for i in range(n)]
        nbrs = [
            [int(v) for v in lines[3 + 2 * i].strip(" ;\n").split(";") if v.strip()]
            for i in range(n)
        ]
        vox = np.array([v[:3] for v in vals], dtype=np.float64)
        r_mm = np.array([v[6] for v in vals], dtype=np.float64)
        to_mm = _matrices(dataset / "3dra" / "3dra_0001_info.txt")["m_3DRAPixelToMM"]
        carm = _matrices(dataset / "fluoro" / "infoFluoroTransformations.txt")
        fus = next(iter(sorted((dataset / "fusion").glob("*_fusion.txt"))))
        rigid = _matrices(fus)["m_RigidTransform3DInWorldCS[0]"]
    except (OSError, ValueError, IndexError, KeyError, StopIteration) as exc:
        raise ValueError(f"cannot read the 3D vessel tree in {dataset}: {exc!r}") from exc
    h = np.c_[vox, np.ones(n)].T
    q = carm["m_CArmProjection"] @ carm["m_WorldToCArm"] @ rigid @ to_mm @ h
    px_mm = carm["m_FluoroPixelToMM"][0, 0]
    nodes = (q[:2] / q[3]).T / px_mm
    mag = SDD_MM / q[3]
    for _ in range(3):  # the traced radii jump from node to node: smooth them (aorta kept)
        mean = np.array([np.mean(r_mm[nb]) if nb else r for nb, r in zip(nbrs, r_mm, strict=True)])
        r_mm = np.where(r_mm >= 9.9, r_mm, np.minimum(0.5 * (r_mm + mean), 9.0))
    radius = r_mm * mag / px_mm
    edges, seen, queue = [], {root}, deque([root])
    while queue:
        a = queue.popleft()
        for b in nbrs[a]:
            if b not in seen:
                seen.add(b)
                edges.append((a, b))
                queue.append(b)
    entry = np.array([[nodes[root, 0], REF_SIZE + 300.0], nodes[root]])
    return VesselTree("hepatic", nodes, radius, np.array(edges, dtype=np.int64), root, entry, root)


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


def catheter_route(
    tree: VesselTree, size_wh: tuple[int, int], rng: np.random.Generator | None
) -> F64:
    """A catheter's route: (M, 2) px from outside the view along the tree to a target node.

    The target lies inside the central 80 % of the field and deep in the tree (path length in
    the top 30 %), reached without leaving the field once inside; drawn by ``rng`` (the
    deepest one without it).
    """
    w, h = size_wh
    off = (tree.nodes - [w / 2, h / 2]) / (0.5 * min(w, h))
    r = np.hypot(off[:, 0], off[:, 1])
    dist = tree.distance_px(tree.entry_node, r < 0.95)
    ok = np.flatnonzero((r < 0.8) & np.isfinite(dist))
    if len(ok) == 0:
        raise ValueError(f"the {tree.name} tree has no node in the field of view")
    ok = ok[dist[ok] >= np.quantile(dist[ok], 0.7)]
    target = int(rng.choice(ok)) if rng is not None else int(ok[np.argmax(dist[ok])])
    return np.vstack([tree.entry[:-1], tree.nodes[tree.path(tree.entry_node, target)]])


def centerline_distance(tree: VesselTree, size_wh: tuple[int, int]) -> npt.NDArray[np.float32]:
    """(H, W) float32 distance in px from each pixel to the nearest centerline edge."""
    lines = np.full(size_wh[::-1], 255, np.uint8)
    ends = np.round(tree.nodes[tree.edges]).astype(np.int32)
    cv2.polylines(lines, list(ends), False, 0, 1)
    return np.asarray(cv2.distanceTransform(lines, cv2.DIST_L2, 5), dtype=np.float32)


@dataclass(frozen=True)
class VesselRaster:
    """A tree rasterized at rest in a crop of the image.

    ``origin``: (x0, y0) px of the crop's top-left pixel (may lie outside the image);
    ``chord_mm``: (h, w) float32 path length through lumen, mm at the patient; ``mask``: (h, w)
    uint8 1 inside the lumen; ``idx``: (P,) flat indices of the lumen pixels, with
    ``chord_at`` (P,) their chords, ``seg`` (P,) the edge row dominating each one and ``u``
    (P,) float32 its position along it (0 parent, 1 child): contrast spreads along the tree
    without touching the whole crop.
    """

    origin: tuple[int, int]
    chord_mm: npt.NDArray[np.float32]
    mask: npt.NDArray[np.uint8]
    idx: I64
    chord_at: npt.NDArray[np.float32]
    seg: I64
    u: npt.NDArray[np.float32]


def rasterize(
    tree: VesselTree, size_wh: tuple[int, int], mm_per_px: float, margin_px: int
) -> VesselRaster:
    """Per-pixel lumen chord of every edge (a capsule between two radii), max over edges.

    Chord = 2 sqrt(r^2 - d^2) px * ``mm_per_px`` (mm at the patient per image px), d the
    distance to the edge's axis. The crop is the tree's bounding box plus ``margin_px``, cut
    to the (W, H) view ``size_wh`` plus the same margin (so that motion brings nothing new in).
    """
    lo = np.floor(tree.nodes.min(0) - tree.radius.max() - margin_px).astype(int)
    hi = np.ceil(tree.nodes.max(0) + tree.radius.max() + margin_px).astype(int)
    lo = np.maximum(lo, -margin_px)
    hi = np.minimum(hi, np.array(size_wh) - 1 + margin_px)
    w, h = (hi - lo + 1).tolist()
    chord = np.zeros((h, w), dtype=np.float32)
    seg = np.full((h, w), -1, dtype=np.int64)
    upos = np.zeros((h, w), dtype=np.float32)
    p = tree.nodes - lo
    for e, (a, b) in enumerate(tree.edges):
        pa, pb, ra, rb = p[a], p[b], tree.radius[a], tree.radius[b]
        rmax = max(ra, rb)
        x0, y0 = np.maximum(np.floor(np.minimum(pa, pb) - rmax - 1).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(np.maximum(pa, pb) + rmax + 1).astype(int), [w - 1, h - 1])
        if x1 < x0 or y1 < y0:
            continue
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
        d = pb - pa
        t = np.clip(((xs - pa[0]) * d[0] + (ys - pa[1]) * d[1]) / max(float(d @ d), 1e-9), 0, 1)
        dist2 = (xs - pa[0] - t * d[0]) ** 2 + (ys - pa[1] - t * d[1]) ** 2
        r = ra + t * (rb - ra)
        c = (2 * np.sqrt(np.maximum(r * r - dist2, 0.0)) * mm_per_px).astype(np.float32)
        view = chord[y0 : y1 + 1, x0 : x1 + 1]
        win = c > view
        view[win] = c[win]
        seg[y0 : y1 + 1, x0 : x1 + 1][win] = e
        upos[y0 : y1 + 1, x0 : x1 + 1][win] = t[win]
    idx = np.flatnonzero(chord > 0).astype(np.int64)
    return VesselRaster(
        (int(lo[0]), int(lo[1])),
        chord,
        (chord > 0).astype(np.uint8),
        idx,
        chord.ravel()[idx],
        seg.ravel()[idx],
        upos.ravel()[idx],
    )
