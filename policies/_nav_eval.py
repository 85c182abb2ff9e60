"""Evaluation of navigation policies: episodes, per-episode metrics, and 95 % intervals by a
two-level bootstrap (policies, i.e. training seeds, then episodes within each).

Per episode: success (within ``SUCCESS_MM``; at 4 and 5 mm: the closest approach), SPL
(success x shortest route / max(shortest, path travelled)), path length mm, time s (steps /
``CONTROL_HZ``), mean and max contact force N, safety (fraction of steps under
``SAFE_FORCE_N``) and the final error mm along the centerline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..sim import CONTROL_HZ, SAFE_FORCE_N
from ._nav_scripted import NavPolicy
from ._policy_spec import policy_from_spec

NAV_METRICS = (
    "success_rate",
    "success_rate_4mm",
    "success_rate_5mm",
    "spl",
    "path_length_mm",
    "episode_time_s",
    "mean_force",
    "max_force",
    "safety",
    "final_error_mm",
)


@dataclass(frozen=True)
class NavEpisode:
    """One episode's outcome (see the module docstring for each figure)."""

    success_rate: float
    success_rate_4mm: float
    success_rate_5mm: float
    spl: float
    path_length_mm: float
    episode_time_s: float
    mean_force: float
    max_force: float
    safety: float
    final_error_mm: float
    reason: str
    anatomy: str


def run_nav_episode(env: Any, policy: NavPolicy, seed: int) -> NavEpisode:
    """Run ``policy`` for one episode of ``env`` reset with ``seed``; a step whose perceived
    tip the observer refused (``observer.hold``, :class:`PerceivedTip`) holds still."""
    obs, info = env.reset(seed=seed)
    policy.reset()
    observer = getattr(env.unwrapped, "observer", None)
    forces: list[float] = []
    done = False
    while not done:
        action = policy.act(obs)
        if getattr(observer, "hold", False):
            action = np.zeros_like(action)
        obs, _, terminated, truncated, info = env.step(action)
        forces.append(float(info["force_n"]))
        done = terminated or truncated
    ok = bool(info["success"])
    short, path = float(info["shortest_mm"]), float(info["path_length_mm"])
    f = np.array(forces)
    return NavEpisode(
        success_rate=float(ok),
        success_rate_4mm=float(ok or info["closest_mm"] <= 4.0),
        success_rate_5mm=float(ok or info["closest_mm"] <= 5.0),
        spl=float(ok) * short / max(short, path, 1e-9),
        path_length_mm=path,
        episode_time_s=len(forces) / CONTROL_HZ,
        mean_force=float(f.mean()),
        max_force=float(f.max()),
        safety=float(np.mean(f < SAFE_FORCE_N)),
        final_error_mm=float(info["error_mm"]),
        reason=str(info["reason"]),
        anatomy=str(info["anatomy"]),
    )


def bootstrap_interval(
    groups: Sequence[Sequence[float]], rng: np.random.Generator, resamples: int = 2000
) -> tuple[float, float, float]:
    """Mean and 95 % interval of values grouped by seed: resample the groups, then the values
    within each drawn group (a two-level bootstrap; one group is a plain bootstrap)."""
    arrays = [np.asarray(g, dtype=np.float64) for g in groups if len(g)]
    if not arrays:
        raise ValueError("no episodes to summarize")
    mean = float(np.mean(np.concatenate(arrays)))
    stats = np.empty(resamples)
    for i in range(resamples):
        picks = rng.integers(len(arrays), size=len(arrays)) if len(arrays) > 1 else [0]
        drawn = [arrays[g][rng.integers(len(arrays[g]), size=len(arrays[g]))] for g in picks]
        stats[i] = np.mean(np.concatenate(drawn))
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return mean, float(lo), float(hi)


def summarize_episodes(
    runs: Sequence[Sequence[Any]], metrics: Sequence[str], seed: int = 0
) -> dict[str, Any]:
    """Each of ``metrics`` (fields of the episode dataclasses in ``runs``, one run per policy
    seed) as its mean and 95 % interval (:func:`bootstrap_interval`), the episode count and
    the count of each end ``reason``."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for name in metrics:
        groups = [[float(asdict(e)[name]) for e in run] for run in runs]
        mean, lo, hi = bootstrap_interval(groups, rng)
        out[name] = {"mean": round(mean, 4), "ci95": [round(lo, 4), round(hi, 4)]}
    episodes = [e for run in runs for e in run]
    out["episodes"] = len(episodes)
    out["reasons"] = dict(Counter(e.reason for e in episodes))
    return out


def paired_difference(
    runs: Sequence[Sequence[Any]],
    baseline: Sequence[Any],
    metrics: Sequence[str],
    seed: int = 0,
) -> dict[str, Any]:
    """Each of ``metrics`` as policy minus ``baseline`` on the same episodes: per training seed
    (one run in ``runs``) the difference of each episode with the baseline's episode of the same
    reset seed, then the mean and 95 % interval of those differences (the two-level bootstrap
    of :func:`bootstrap_interval`). Pairing removes what the episodes share (anatomy, target,
    start), so a difference can be shown where the two groups' intervals overlap."""
    if any(len(run) != len(baseline) for run in runs):
        raise ValueError("a paired comparison needs the same episodes for every policy")
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for name in metrics:
        base = [float(asdict(e)[name]) for e in baseline]
        groups = [
            [float(asdict(e)[name]) - b for e, b in zip(run, base, strict=True)] for run in runs
        ]
        mean, lo, hi = bootstrap_interval(groups, rng)
        out[name] = {"mean": round(mean, 4), "ci95": [round(lo, 4), round(hi, 4)]}
    return out


def summarize_nav(runs: Sequence[Sequence[NavEpisode]], seed: int = 0) -> dict[str, Any]:
    """:func:`summarize_episodes` of ``NAV_METRICS``, plus the count of each anatomy."""
    out = summarize_episodes(runs, NAV_METRICS, seed)
    out["anatomies"] = dict(Counter(e.anatomy for run in runs for e in run))
    return out


def run_nav_policies(
    make_env: Any, policies: Sequence[NavPolicy], episodes: int, seed: int = 0
) -> list[list[NavEpisode]]:
    """``episodes`` episodes (reset seeds ``seed``, ``seed + 1``, ...) of each policy on a fresh
    ``make_env()``: one run per policy, the same anatomies in each."""
    if episodes < 1:
        raise ValueError("episodes must be at least 1")
    runs = []
    for policy in policies:
        env = make_env()
        try:
            runs.append([run_nav_episode(env, policy, seed + k) for k in range(episodes)])
        finally:
            env.close()
    return runs


def evaluate_nav(
    make_env: Any, policies: Sequence[NavPolicy], episodes: int, seed: int = 0
) -> dict[str, Any]:
    """Run ``episodes`` episodes (reset seeds ``seed``, ``seed + 1``, ...) for each policy on
    ``make_env()`` and summarize them (``summarize_nav``); same seeds, same anatomies."""
    runs = run_nav_policies(make_env, policies, episodes, seed)
    return _nav_report(runs, [p.name for p in policies], seed)


def _nav_report(
    runs: Sequence[Sequence[NavEpisode]], names: list[str], seed: int
) -> dict[str, Any]:
    report = summarize_nav(runs, seed)
    report["policies"] = names
    if len(runs) > 1:  # each policy (training seed) on its own as well
        report["per_policy"] = [summarize_nav([run], seed) for run in runs]
    return report


def _perception_figures(observer: Any) -> dict[str, Any]:
    """What ``PerceivedTip`` counted over a run: tip tracking error, holds, gates, pans."""
    if observer is None or not observer.errors_mm:
        return {}
    err = np.asarray(observer.errors_mm)
    return {
        "tip_tracking_error_mm": {
            "median": round(float(np.median(err)), 3),
            "p95": round(float(np.quantile(err, 0.95)), 3),
            "steps": len(err),
        },
        "perception_holds": observer.holds,
        "perception_gated": observer.gated,
        "perception_pans": observer.pans,
        "perception_relocations": observer.relocations,
        "perception_arrived": observer.arrived,
    }


def evaluate_nav_policy(
    env_id: str,
    specs: Sequence[str],
    episodes: int,
    *,
    seed: int = 0,
    held_out: bool = False,
    anatomy: Any = None,
    anatomy_mm_per_unit: float = 1.0,
    perception: bool = False,
    against: str | None = None,
) -> dict[str, Any]:
    """``evaluate_nav`` of the policies named by ``specs`` (``policy_from_spec``) on
    ``env_id``: the training or held-out anatomies, or the tree in file ``anatomy``; with
    ``perception`` the policies see the tip tracked on rendered frames (``PerceivedTip``).
    ``against`` (a spec, e.g. ``"scripted"``): that policy plays the same episodes too, and
    ``report["against"]`` holds its summary and the paired differences (``paired_difference``)."""
    from ..sim import load_centerline_tree, make_nav_env
    from ._nav_perception import PerceivedTip

    policies = [policy_from_spec(s, env_id, seed + i) for i, s in enumerate(specs)]
    baseline = policy_from_spec(against, env_id, seed) if against is not None else None
    tree = load_centerline_tree(anatomy, anatomy_mm_per_unit) if anatomy is not None else None
    make_nav_env(env_id).close()  # an unknown id or a missing gymnasium fails here, once

    def play(chosen: Sequence[NavPolicy]) -> tuple[dict[str, Any], list[list[NavEpisode]]]:
        observer = PerceivedTip() if perception else None  # its counts: these policies' only
        runs = run_nav_policies(
            lambda: make_nav_env(env_id, held_out=held_out, tree=tree, observer=observer),
            chosen,
            episodes,
            seed,
        )
        report = _nav_report(runs, [p.name for p in chosen], seed)
        return {**report, **_perception_figures(observer)}, runs

    report, runs = play(policies)
    if baseline is not None:
        base, base_runs = play([baseline])
        base["difference"] = paired_difference(runs, base_runs[0], NAV_METRICS, seed)
        report["against"] = base
    report.update(
        env=env_id,
        held_out=held_out,
        anatomy=str(anatomy) if anatomy is not None else None,
        seed=seed,
        episodes_per_policy=episodes,
        perception=perception,
    )
    return report
