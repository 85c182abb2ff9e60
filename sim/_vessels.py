"""Vessel trees for the fluoroscopy simulator: the tree, the real 3D hepatic tree projected on
its C-arm view, a catheter's route along a tree, and the tree rasterized as lumen chords.

Coordinates are detector px of the reference view (1024x1024 at ``SPACING_REF_MM``; x =
column, y = row, pixel centres at integer coordinates). Radii are projected lumen radii in px.
Procedural trees are in ``_vessels_procedural``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

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
