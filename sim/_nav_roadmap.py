"""A vessel roadmap for live catheter navigation: the centerline tree a registered roadmap (a
DSA or a 3D rotational angiogram) gives, in frame pixels, with the target node.

A roadmap file is JSON (``docs/robot-feed.md``, "Closed loop"): ``{"format":
"orstream-roadmap", "version": 1, "name", "mm_per_px", "nodes_px": [[x, y], ...],
"radius_px": [...], "edges": [[parent, child], ...], "root", "entry_px": [[x, y], ...],
"entry_node", "target_node"}``. A malformed file is one ``ValueError``.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._nav_tree import NavTree
from ._vessels import VesselTree

ROADMAP_FORMAT = "orstream-roadmap"
ROADMAP_VERSION = 1


@dataclass(frozen=True, eq=False)
class NavRoadmap:
    """``tree`` (frame px at rest) at ``mm_per_px``, and the ``target`` node a catheter is
    steered to. :attr:`nav` is the same tree in mm, rooted at its access point."""

    tree: VesselTree
    mm_per_px: float
    target: int

    @functools.cached_property
    def nav(self) -> NavTree:
        return NavTree(self.tree, self.mm_per_px)

    @property
    def target_px(self) -> tuple[float, float]:
        """The target, frame px (x, y) on the smoothed centerline."""
        nav = self.nav
        return nav.x[self.target] / self.mm_per_px, nav.y[self.target] / self.mm_per_px

    def to_json(self) -> dict[str, Any]:
        t = self.tree
        return {
            "format": ROADMAP_FORMAT,
            "version": ROADMAP_VERSION,
            "name": t.name,
            "mm_per_px": self.mm_per_px,
            "nodes_px": np.round(t.nodes, 3).tolist(),
            "radius_px": np.round(t.radius, 3).tolist(),
            "edges": t.edges.tolist(),
            "root": t.root,
            "entry_px": np.round(t.entry, 3).tolist(),
            "entry_node": t.entry_node,
            "target_node": self.target,
        }


def _array(doc: dict[str, Any], key: str, shape_tail: tuple[int, ...], where: str) -> Any:
    try:
        out = np.asarray(doc[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: {key} is missing or not an array of numbers") from None
    if out.ndim != 1 + len(shape_tail) or out.shape[1:] != shape_tail or not len(out):
        raise ValueError(f"{where}: {key} must be a non-empty array of shape (N, *{shape_tail})")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{where}: {key} holds a non-finite number")
    return out


def _index(doc: dict[str, Any], key: str, n: int, where: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise ValueError(f"{where}: {key} must be a node id in 0..{n - 1}")
    return value


def _edges(value: object, n: int, where: str) -> Any:
    """(E, 2) int64 node ids from ``[[parent, child], ...]`` of integers in ``0..n-1``."""
    ok = isinstance(value, list) and all(
        isinstance(e, list)
        and len(e) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in e)
        for e in value
    )
    if not ok:
        raise ValueError(f"{where}: edges must be [[parent, child], ...] of node ids 0..{n - 1}")
    return np.asarray(value, dtype=np.int64).reshape(-1, 2)


def roadmap_from_json(doc: object, where: str = "roadmap") -> NavRoadmap:
    """A roadmap from its JSON document; ValueError (one line, naming ``where``) if malformed."""
    if not isinstance(doc, dict) or doc.get("format") != ROADMAP_FORMAT:
        raise ValueError(f"{where}: not an {ROADMAP_FORMAT} document")
    if doc.get("version") != ROADMAP_VERSION:
        raise ValueError(f"{where}: version {doc.get('version')!r} (this reads {ROADMAP_VERSION})")
    scale = doc.get("mm_per_px")
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale < math.inf:
        raise ValueError(f"{where}: mm_per_px must be a positive number")
    nodes = _array(doc, "nodes_px", (2,), where)
    radius = _array(doc, "radius_px", (), where)
    entry = _array(doc, "entry_px", (2,), where)
    n = len(nodes)
    edges = _edges(doc.get("edges"), n, where)
    if len(radius) != n or np.any(radius <= 0):
        raise ValueError(f"{where}: radius_px needs one positive radius per node ({n})")
    if len(edges) != n - 1:
        raise ValueError(f"{where}: edges must form one tree over the {n} nodes")
    tree = VesselTree(
        str(doc.get("name", "roadmap")),
        nodes,
        radius,
        edges,
        _index(doc, "root", n, where),
        entry,
        _index(doc, "entry_node", n, where),
    )
    roadmap = NavRoadmap(tree, float(scale), _index(doc, "target_node", n, where))
    if len(roadmap.nav.order) != n:
        raise ValueError(f"{where}: {n - len(roadmap.nav.order)} nodes are not connected")
    return roadmap


def read_roadmap(path: str | Path) -> NavRoadmap:
    """The roadmap in the JSON file at ``path``; ValueError (one line) if unreadable or bad."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"cannot read the roadmap {path}: {type(exc).__name__}") from None
    return roadmap_from_json(doc, f"roadmap {path}")


def write_roadmap(roadmap: NavRoadmap, path: str | Path) -> None:
    """Write ``roadmap`` as JSON to ``path`` (through a temporary file: never half written)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(roadmap.to_json()), encoding="utf-8")
    tmp.replace(path)
