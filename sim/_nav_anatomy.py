"""Anatomies and targets of ``orstream/CatheterNav-v0``: drawn from a seed, with a held-out set
never seen in training, or read from a 3D centerline-tree file.

Training draws procedural hepatic, arch and coronary trees from tree seeds in
``[0, TRAIN_TREES)`` and the real hepatic tree (when the data is present) with its
training targets; the held-out set draws tree seeds from ``[HELD_OUT_TREE_SEED, 2 *
HELD_OUT_TREE_SEED)`` and the real tree's held-out targets (whole terminal branches, a fixed
quarter of them). Every tree is a randomized variant: rotated up to 15 degrees and scaled by
0.9-1.1 about the image centre.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ._data import data_path
from ._nav_tree import BEND_RAD, NavTree
from ._vessels import REF_SIZE, SPACING_MM, SPACING_REF_MM, VesselTree, load_hepatic_tree
from ._vessels_procedural import procedural_tree

HELD_OUT_TREE_SEED = 1 << 30
"""Procedural tree seeds at or above this are evaluation-only."""
TRAIN_TREES = 1024
"""Training draws procedural trees from seeds ``0 .. TRAIN_TREES - 1`` of each anatomy."""
NAV_ANATOMIES = ("hepatic", "arch", "coronary", "hepatic-real")
MIN_TARGET_RADIUS_MM = 0.8
"""Thinnest lumen a target may sit in (the catheter must fit), mm."""
MIN_TARGET_MM = 40.0
"""Shortest path from the entry to a target, mm."""


@functools.lru_cache(maxsize=1)
def _real_hepatic() -> VesselTree | None:
    root = data_path("catheter-centerlines", "dataset1")
    return None if root is None else load_hepatic_tree(root)


def available_anatomies() -> tuple[str, ...]:
    """The anatomies this machine can draw ("hepatic-real" needs the real data)."""
    return NAV_ANATOMIES if _real_hepatic() is not None else NAV_ANATOMIES[:3]


def _variant(nav: NavTree, rng: np.random.Generator) -> NavTree:
    centre = REF_SIZE / 2 * nav.mm_per_px
    return nav.variant(rng.uniform(-0.26, 0.26), rng.uniform(0.9, 1.1), (centre, centre))


@functools.lru_cache(maxsize=len(NAV_ANATOMIES) * TRAIN_TREES + 64)
def _base_tree(name: str, seed: int) -> tuple[NavTree, tuple[int, ...]]:
    """A tree at rest (cached: resets stay cheap) and its target candidates."""
    if name == "hepatic-real":
        base = _real_hepatic()
        assert base is not None  # available_anatomies() checked it
        nav = NavTree(base, SPACING_REF_MM)
    else:
        nav = NavTree(procedural_tree(name, np.random.default_rng(seed)), SPACING_MM[name])
    nav.name = name
    return nav, tuple(target_candidates(nav))


def target_candidates(nav: NavTree) -> list[int]:
    """Nodes a target may be: wide enough, far enough, past at least one bifurcation, in the
    deeper half of the tree, and reachable by the pre-curved tip (no turn on the way sharper
    than ``BEND_RAD`` + 0.3 rad)."""
    arcs = [nav.arc_mm[a] for a in nav.order]
    floor = max(MIN_TARGET_MM, 0.5 * max(arcs))
    out = []
    for a in nav.order:
        if nav.arc_mm[a] < floor or nav.radius_mm[a] < MIN_TARGET_RADIUS_MM:
            continue
        if nav.worst_turn[a] > BEND_RAD + 0.3:
            continue
        if nav.parent[nav.fork_branch[a]] >= 0:
            out.append(a)
    return out


def held_out_branch(nav: NavTree, node: int) -> bool:
    """Whether ``node``'s terminal branch is in the real tree's held-out quarter (fixed)."""
    return (nav.fork_branch[node] * 2654435761) % (1 << 32) % 4 == 0


def draw_anatomy(rng: np.random.Generator, held_out: bool) -> tuple[NavTree, int]:
    """A tree and a target node for one episode: training or held-out (disjoint sets)."""
    names = available_anatomies()
    name = names[int(rng.integers(len(names)))]
    if held_out:
        seed = HELD_OUT_TREE_SEED + int(rng.integers(HELD_OUT_TREE_SEED))
    else:
        seed = int(rng.integers(TRAIN_TREES))
    base, targets = _base_tree(name, 0 if name == "hepatic-real" else seed)
    if name == "hepatic-real":
        targets = tuple(t for t in targets if held_out_branch(base, t) == held_out)
    nav = _variant(base, rng)
    if not targets:  # a degenerate procedural draw: take the deepest node
        return nav, max(nav.order, key=lambda a: nav.arc_mm[a])
    return nav, targets[int(rng.integers(len(targets)))]


def draw_target(nav: NavTree, rng: np.random.Generator) -> int:
    """A target node of a fixed tree (one read from a file)."""
    targets = target_candidates(nav) or [max(nav.order, key=lambda a: nav.arc_mm[a])]
    return targets[int(rng.integers(len(targets)))]


def load_centerline_tree(path: Path, mm_per_unit: float = 1.0) -> NavTree:
    """A tree from a 3D centerline-tree file (the format of catheter-centerlines' ``3dra``).

    Format: the node count N, the root id, then per node one line of ``;``-separated numbers
    (x, y, z first, the lumen radius seventh) and one line of its neighbours' ids. Coordinates
    times ``mm_per_unit`` are mm; the tree is projected orthographically on its two principal
    axes, and the catheter enters at the root. Raises ValueError (one line) on a malformed file.
    """
    try:
        lines = [s.strip() for s in Path(path).read_text().splitlines() if s.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the centerline tree {path}: {exc}") from exc
    where = f"centerline tree {path}"
    try:
        n, root = int(lines[0]), int(lines[1])
    except (IndexError, ValueError):
        raise ValueError(
            f"{where}: the first two lines must be the node count and the root id"
        ) from None
    if n < 2 or not 0 <= root < n or len(lines) < 2 + 2 * n:
        raise ValueError(f"{where}: expected {max(n, 0)} nodes (2 lines each), root id in range")
    try:
        vals = [[float(v) for v in lines[2 + 2 * i].strip(";").split(";")] for i in range(n)]
        nbrs = [
            [int(v) for v in lines[3 + 2 * i].strip(";").split(";") if v.strip()] for i in range(n)
        ]
    except ValueError as exc:
        raise ValueError(f"{where}: a node line holds a non-number ({exc})") from exc
    if any(len(v) < 7 for v in vals):
        raise ValueError(f"{where}: every node line needs x;y;z;...;radius (7 numbers or more)")
    if any(not 0 <= b < n for nb in nbrs for b in nb):
        raise ValueError(f"{where}: a neighbour id is out of range 0..{n - 1}")
    xyz = np.array([v[:3] for v in vals], dtype=np.float64) * mm_per_unit
    radius = np.array([v[6] for v in vals], dtype=np.float64) * mm_per_unit
    if not np.all(np.isfinite(xyz)) or np.any(radius <= 0) or not np.all(np.isfinite(radius)):
        raise ValueError(f"{where}: coordinates must be finite and radii positive")
    edges = sorted({(min(a, b), max(a, b)) for a, nb in enumerate(nbrs) for b in nb if a != b})
    if len(edges) != n - 1:
        raise ValueError(
            f"{where}: the neighbours must form one tree ({len(edges)} edges, {n} nodes)"
        )
    centred = xyz - xyz.mean(0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:2]
    tree = VesselTree(
        Path(path).stem, centred @ axes.T, radius, np.array(edges), root, xyz[[root], :2], root
    )
    nav = NavTree(tree, 1.0)
    if len(nav.order) != n:
        raise ValueError(f"{where}: {n - len(nav.order)} nodes are not connected to the root")
    return nav
