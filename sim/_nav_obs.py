"""The observation of ``orstream/CatheterNav-v0`` from a tip's place on a vessel roadmap: one
function shared by the environment and by live guidance (``NavPolicyGuidance``), so a policy
sees the same features in training and in the engine (layout: ``NAV_OBS_LAYOUT``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._nav_spec import MAX_FORCE_N
from ._nav_tree import NavTree, Tip, wrap

F32 = npt.NDArray[np.float32]


class SeenTip(NamedTuple):
    """A perceived tip: where the frame shows it (mm), its confidence (0-1), and the place on
    the roadmap that guidance keeps for it (``None``: the true place), from which the roadmap
    features and the distance to the target are read."""

    x_mm: float
    y_mm: float
    confidence: float
    place: Tip | None = None


class TrackerNoise:
    """A ``TipObserver`` for training: the true tip seen with a tracker's error (Gaussian,
    ``sigma_mm`` per axis) and a confidence drawn uniformly in [``min_confidence``, 1] each step
    (the range a gate lets act), the roadmap place the true one; draws from the environment's
    seeded generator, so runs stay reproducible. A policy trained on the true tip alone sees
    confidence 1 on every step and misreads a tracked tip's lower one."""

    def __init__(self, sigma_mm: float = 0.5, min_confidence: float = 0.5) -> None:
        self.sigma_mm, self.min_confidence = float(sigma_mm), float(min_confidence)

    def __call__(self, env: Any) -> SeenTip:
        rng = env.np_random
        x, y = env.nav.tip_xy(env.tip)
        dx, dy = rng.normal(0.0, self.sigma_mm, 2)
        return SeenTip(x + dx, y + dy, float(rng.uniform(self.min_confidence, 1.0)))


def along_tree_mm(nav: NavTree, tip: Tip, dist: Sequence[float]) -> float:
    """Path length (mm) along the tree from ``tip`` to the node ``dist`` measures from
    (``dist``: per-node distances, :meth:`NavTree.distances_from`)."""
    p = nav.parent[tip.node]
    if p < 0:
        return dist[tip.node]
    return min(dist[p] + tip.along_mm, dist[tip.node] + nav.seg_mm[tip.node] - tip.along_mm)


def route_flags(nav: NavTree, target: int) -> list[bool]:
    """Per node: whether it lies on the route from the entry to ``target``."""
    flags = [False] * len(nav.parent)
    for a in nav.path_to(target):
        flags[a] = True
    return flags


def nav_observation(
    nav: NavTree,
    tip: Tip,
    *,
    roll: float,
    target: int,
    to_target_mm: float,
    on_route: Sequence[bool],
    seen_xy: tuple[float, float],
    confidence: float,
    last_action: tuple[float, float],
    force_n: float,
    bend: float,
) -> F32:
    """(NAV_OBS_SIZE,) float32: the tip ``seen_xy`` (mm, perceived or true) with its
    ``confidence``, its place ``tip`` on ``nav`` with the catheter's ``roll`` and ``bend``
    (rad), the remaining ``to_target_mm`` along the tree, the last action and contact force."""
    x, y = seen_xy
    head = nav.angle[tip.node]
    fork = nav.next_fork[tip.node]
    kids = sorted(nav.kids[fork], key=lambda k: wrap(nav.branch_angle[k] - nav.angle[fork]))[:3]
    kid_feats = [0.0] * 9
    for i, k in enumerate(kids if len(kids) > 1 else []):
        rel = wrap(nav.branch_angle[k] - nav.angle[fork])
        kid_feats[3 * i : 3 * i + 3] = [math.cos(rel), math.sin(rel), float(on_route[k])]
    to_fork = nav.arc_mm[fork] - nav.tip_arc(tip)
    obs = [
        (nav.x[target] - x) / 100.0,
        (nav.y[target] - y) / 100.0,
        math.cos(head),
        math.sin(head),
        math.cos(roll),
        math.sin(roll),
        confidence,
        *kid_feats,
        to_target_mm / 100.0,
        min(to_fork / 20.0, 5.0),
        *last_action,
        float(on_route[tip.node]),
        min(nav.radius_mm[tip.node] / 5.0, 5.0),
        nav.turn_ahead(tip, bend),
        min(force_n / MAX_FORCE_N, 5.0),
    ]
    return np.clip(np.array(obs, dtype=np.float32), -10.0, 10.0)
