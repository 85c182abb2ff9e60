"""The kinematic catheter of ``orstream/CatheterNav-v0``: a tree re-rooted at the access point,
in mm, with a tip that slides along it (no physics engine).

The catheter is a path of arc length along the tree from the entry. Advancing moves the tip
along its current branch; at a bifurcation the branch taken is the child whose direction best
matches the tip's bend direction: a pre-curved tip whose projected bend is
``BEND_RAD * sin(roll)`` off the lumen heading. Contact force grows with the mismatch between
that bend and the lumen's turn a few mm ahead (beyond a tolerance that widens with the lumen
radius) while advancing, and with pushing against a closed end. Per-node arrays are Python
lists so that a step costs a few tens of microseconds.
"""

from __future__ import annotations

import math
from collections import deque
from copy import copy
from dataclasses import dataclass

import numpy as np

from ._vessels import F64, VesselTree

BEND_RAD = 1.6
"""Largest projected angle between the pre-curved tip and the lumen heading, rad."""
LOOK_MM = 5.0
"""How far ahead of the tip the lumen turn is read for the contact force, mm."""
FORCE_PER_RAD = 1.5
"""Contact force per rad of bend/lumen mismatch beyond the tolerance while advancing, N/rad."""
FORCE_PER_MM_END = 0.5
"""Contact force per mm pushed against a closed end, N/mm."""


def along_tree_from(nav: NavTree, tip: Tip, node: int) -> float:
    """Path length (mm) along ``nav`` from ``tip`` to the reachable ``node``, by arc lengths
    from the entry and their lowest common ancestor."""
    c, arc = tip.node, nav.arc_mm
    chain, a = set(), c
    while a >= 0:
        chain.add(a)
        a = nav.parent[a]
    lca = node
    while lca not in chain:
        lca = nav.parent[lca]
    if lca == c:  # node is below the tip
        return nav.seg_mm[c] - tip.along_mm + arc[node] - arc[c]
    return tip.along_mm + arc[nav.parent[c]] - arc[lca] + arc[node] - arc[lca]


TIE_MM = 1.0
"""Places on the tree this close to the closest one count as ties for :meth:`NavTree.nearest`."""


def wrap(a: float) -> float:
    """Angle ``a`` (rad) wrapped to [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def lumen_tolerance(radius_mm: float) -> float:
    """Bend/lumen mismatch (rad) a lumen of ``radius_mm`` absorbs without wall contact."""
    return min(0.15 + 0.04 * radius_mm, 0.6)


def _smoothed(nodes: F64, nbrs: list[list[int]], rounds: int = 4) -> F64:
    """(N, 2) nodes with chain nodes (two neighbours) moved toward their neighbours' mean:
    traced centerlines zigzag from node to node; forks and ends stay put."""
    chain = np.array([len(nb) == 2 for nb in nbrs])
    if not chain.any():
        return nodes
    ids = np.flatnonzero(chain)
    a = np.array([nbrs[i][0] for i in ids])
    b = np.array([nbrs[i][1] for i in ids])
    out = nodes.copy()
    for _ in range(rounds):
        out[ids] = 0.5 * out[ids] + 0.25 * (out[a] + out[b])
    return out


@dataclass
class Tip:
    """Where the tip is: on the edge parent[node] -> node, ``along_mm`` from the parent."""

    node: int
    along_mm: float


class NavTree:
    """A vessel tree in mm, rooted at its access point, with per-node arrays for stepping.

    ``pos``: (N, 2) mm; ``parent[n]`` (-1 for the entry); ``kids[n]``; ``seg_mm[n]`` length
    of the edge parent -> n; ``angle[n]`` the lumen heading coming into n and
    ``branch_angle[n]`` the heading of the branch from parent[n] through n, rad (image frame:
    0 = +x, pi/2 = down); ``arc_mm[n]`` path length from the entry; ``radius_mm[n]``.
    """

    def __init__(self, tree: VesselTree, mm_per_px: float) -> None:
        n = len(tree.nodes)
        nbrs: list[list[int]] = [[] for _ in range(n)]
        for a, b in tree.edges.tolist():
            nbrs[a].append(b)
            nbrs[b].append(a)
        self.name = tree.name
        self.mm_per_px = mm_per_px
        self.pos: F64 = _smoothed(np.asarray(tree.nodes, dtype=np.float64), nbrs) * mm_per_px
        self.radius_mm = (np.asarray(tree.radius, dtype=np.float64) * mm_per_px).tolist()
        self.entry = int(tree.entry_node)
        parent = [-2] * n
        parent[self.entry] = -1
        kids: list[list[int]] = [[] for _ in range(n)]
        order, queue = [], deque([self.entry])
        while queue:
            a = queue.popleft()
            order.append(a)
            for b in nbrs[a]:
                if parent[b] == -2:
                    parent[b] = a
                    kids[a].append(b)
                    queue.append(b)
        self.order = order
        """Node ids reachable from the entry, breadth first (the entry first)."""
        self.parent = parent
        self.kids = kids
        px, py = self.pos[:, 0].tolist(), self.pos[:, 1].tolist()
        self.x, self.y = px, py
        seg, arc = [0.0] * n, [0.0] * n
        for a in order[1:]:
            p = parent[a]
            dx, dy = px[a] - px[p], py[a] - py[p]
            seg[a] = max(math.hypot(dx, dy), 1e-6)
            arc[a] = arc[p] + seg[a]
        self.seg_mm, self.arc_mm = seg, arc
        self.angle, self.branch_angle = self._headings(px, py)
        worst = [0.0] * n  # the sharpest turn over LOOK_MM on the way from the entry, rad
        for a in order[1:]:
            up, back = a, 0.0
            while back < LOOK_MM and parent[up] >= 0:
                back += seg[up]
                up = parent[up]
            worst[a] = max(worst[parent[a]], abs(wrap(self.angle[a] - self.angle[up])))
        self.worst_turn = worst
        nxt = list(range(n))  # the first branching node or leaf at or below each node
        for a in reversed(order):
            if len(kids[a]) == 1:
                nxt[a] = nxt[kids[a][0]]
        self.next_fork = nxt
        branch = list(range(n))  # the node just below the nearest bifurcation above each node
        for a in order[1:]:
            if parent[a] == self.entry:
                branch[a] = a if len(kids[self.entry]) > 1 else self.entry
            elif len(kids[parent[a]]) == 1:
                branch[a] = branch[parent[a]]
        self.fork_branch = branch

    def variant(self, rotate_rad: float, scale: float, centre_mm: tuple[float, float]) -> NavTree:
        """The same tree rotated by ``rotate_rad`` and scaled by ``scale`` about ``centre_mm``
        (topology shared, lengths and angles updated: a cheap randomized variant)."""
        out = copy(self)
        c, s = scale * math.cos(rotate_rad), scale * math.sin(rotate_rad)
        lin = np.array([[c, -s], [s, c]])
        ctr = np.asarray(centre_mm, dtype=np.float64)
        out.pos = (self.pos - ctr) @ lin.T + ctr
        out.x, out.y = out.pos[:, 0].tolist(), out.pos[:, 1].tolist()
        out.radius_mm = [r * scale for r in self.radius_mm]
        out.seg_mm = [v * scale for v in self.seg_mm]
        out.arc_mm = [v * scale for v in self.arc_mm]
        out.angle = [wrap(v + rotate_rad) for v in self.angle]
        out.branch_angle = [wrap(v + rotate_rad) for v in self.branch_angle]
        return out

    def _headings(self, px: list[float], py: list[float]) -> tuple[list[float], list[float]]:
        """Per node, rad: the chord from ``LOOK_MM`` upstream to the node (the heading coming
        in) and from its parent to ``LOOK_MM`` downstream (the branch going out; first child
        at forks). Chords are robust to the jitter between traced nodes."""
        n = len(px)
        inward, outward = [0.0] * n, [0.0] * n
        for a in self.order:
            up, back = a, 0.0
            while back < LOOK_MM and self.parent[up] >= 0:
                back += self.seg_mm[up]
                up = self.parent[up]
            down, ahead = a, 0.0
            while ahead < LOOK_MM and self.kids[down]:
                down = self.kids[down][0]
                ahead += self.seg_mm[down]
            start = self.parent[a] if self.parent[a] >= 0 else a
            if down != start:
                outward[a] = math.atan2(py[down] - py[start], px[down] - px[start])
            inward[a] = math.atan2(py[a] - py[up], px[a] - px[up]) if up != a else outward[a]
        return inward, outward

    def distances_from(self, target: int) -> list[float]:
        """(N,) path length in mm along the tree from ``target`` to every reachable node."""
        dist = [math.inf] * len(self.parent)
        dist[target] = 0.0
        queue = deque([target])
        while queue:
            a = queue.popleft()
            links = [*self.kids[a], *([self.parent[a]] if self.parent[a] >= 0 else [])]
            for b in links:
                if dist[b] == math.inf:
                    dist[b] = dist[a] + (self.seg_mm[b] if self.parent[b] == a else self.seg_mm[a])
                    queue.append(b)
        return dist

    def path_to(self, target: int) -> list[int]:
        """Node ids from the entry to ``target``, both included."""
        out = [target]
        while self.parent[out[-1]] >= 0:
            out.append(self.parent[out[-1]])
        return out[::-1]

    def tip_xy(self, tip: Tip) -> tuple[float, float]:
        """Tip position, mm."""
        c, p = tip.node, self.parent[tip.node]
        if p < 0:
            return self.x[c], self.y[c]
        u = tip.along_mm / self.seg_mm[c]
        return self.x[p] + u * (self.x[c] - self.x[p]), self.y[p] + u * (self.y[c] - self.y[p])

    def tip_arc(self, tip: Tip) -> float:
        """Path length from the entry to the tip, mm."""
        return self.arc_mm[tip.node] - self.seg_mm[tip.node] + tip.along_mm

    def choose(self, node: int, bend: float) -> int:
        """The child of ``node`` a tip bent ``bend`` rad off the lumen heading enters."""
        kids = self.kids[node]
        if len(kids) == 1:
            return kids[0]
        want = self.angle[node] + bend
        return min(kids, key=lambda k: abs(wrap(self.branch_angle[k] - want)))

    def turn_ahead(self, tip: Tip, bend: float, look_mm: float = LOOK_MM) -> float:
        """Lumen heading ``look_mm`` ahead of the tip (following the tip's choices) relative to
        the heading at the tip, rad."""
        c, left = tip.node, look_mm - (self.seg_mm[tip.node] - tip.along_mm)
        while left > 0 and self.kids[c]:
            c = self.choose(c, bend)
            left -= self.seg_mm[c]
        return wrap(self.angle[c] - self.angle[tip.node])

    def advance(self, tip: Tip, mm: float, bend: float) -> float:
        """Move ``tip`` ``mm`` forward (choosing children by ``bend``); the mm pushed against a
        closed end that could not be taken."""
        left = mm
        while left > 0:
            room = self.seg_mm[tip.node] - tip.along_mm if self.parent[tip.node] >= 0 else 0.0
            if left <= room:
                tip.along_mm += left
                return 0.0
            left -= room
            if not self.kids[tip.node]:
                tip.along_mm = self.seg_mm[tip.node]
                return left
            tip.node, tip.along_mm = self.choose(tip.node, bend), 0.0
        return 0.0

    def retract(self, tip: Tip, mm: float) -> bool:
        """Move ``tip`` ``mm`` back toward the entry; False when it is pulled out past it."""
        left = mm
        while left > 0:
            if left <= tip.along_mm:
                tip.along_mm -= left
                return True
            left -= tip.along_mm
            p = self.parent[tip.node]
            if p < 0:
                tip.along_mm = 0.0
                return False
            tip.node, tip.along_mm = p, self.seg_mm[p] if self.parent[p] >= 0 else 0.0
        return True

    def place(self, path: list[int], arc_mm: float) -> Tip:
        """A tip ``arc_mm`` from the entry along ``path`` (node ids from the entry)."""
        for a in path[1:]:
            if self.arc_mm[a] >= arc_mm:
                return Tip(a, max(arc_mm - (self.arc_mm[a] - self.seg_mm[a]), 0.0))
        return Tip(path[-1], self.seg_mm[path[-1]] if len(path) > 1 else 0.0)

    def nearest(self, x_mm: float, y_mm: float, near: Tip | None = None) -> Tip:
        """The place on the tree closest to (``x_mm``, ``y_mm``); among places within
        ``TIE_MM`` of the closest, the one nearest along the tree to ``near`` (a tracked tip
        near a bifurcation stays on the branch it was on)."""
        nodes = np.array(self.order[1:], dtype=np.int64)
        parents = np.array([self.parent[a] for a in self.order[1:]], dtype=np.int64)
        a, b = self.pos[parents], self.pos[nodes]
        ab = b - a
        u = np.clip(((np.array([x_mm, y_mm]) - a) * ab).sum(1) / (ab * ab).sum(1).clip(1e-12), 0, 1)
        gap = np.hypot(*(a + u[:, None] * ab - [x_mm, y_mm]).T)
        close = np.flatnonzero(gap <= gap.min() + TIE_MM)
        if near is not None:
            along = u[close] * np.array(self.seg_mm)[nodes[close]]
            places = zip(nodes[close].tolist(), along.tolist(), strict=True)
            apart = [self._along_tree(near, n, a) for n, a in places]
            best = int(close[np.argmin(np.asarray(apart) + gap[close])])
        else:
            best = int(close[np.argmin(gap[close])])
        node = int(nodes[best])
        return Tip(node, float(u[best]) * self.seg_mm[node])

    def _along_tree(self, near: Tip, node: int, along_mm: float) -> float:
        """Path length (mm) along the tree from ``near`` to the place ``along_mm`` past
        ``parent[node]`` toward ``node``."""
        if node == near.node:
            return abs(along_mm - near.along_mm)
        to_node = along_tree_from(self, near, node)
        to_parent = along_tree_from(self, near, self.parent[node])
        return min(to_parent + along_mm, to_node + self.seg_mm[node] - along_mm)

    def contact_force(self, tip: Tip, bend: float, advanced_mm: float, step_mm: float) -> float:
        """Wall contact force (N) after a move of ``advanced_mm`` (negative: retraction) with
        the tip bent ``bend`` rad, for a largest move of ``step_mm``."""
        if advanced_mm == 0.0:
            return 0.0
        mismatch = abs(wrap(bend - self.turn_ahead(tip, bend)))
        excess = max(0.0, mismatch - lumen_tolerance(self.radius_mm[tip.node]))
        scale = 0.5 + 0.5 * advanced_mm / step_mm if advanced_mm > 0 else 0.2
        return FORCE_PER_RAD * excess * scale
