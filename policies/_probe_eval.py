"""Evaluation of echo-probe navigation policies on ``orstream/ProbeNav-v0``: episodes,
per-episode metrics and 95 % intervals (the same two-level bootstrap as ``summarize_nav``).

Per episode: success (within ``PROBE_SUCCESS_MM`` and ``PROBE_SUCCESS_DEG`` of the apical
four-chamber view), the final transducer error mm and imaging-frame error deg, the final view
quality and its gain over the start, the probe's path (mm of translation, deg of rotation), and
the episode time s (steps at ``PROBE_CONTROL_HZ``). With ``perception`` every policy sees
the features of segmented B-mode frames (:class:`~._probe_perception.ProbePerception`) instead
of the phantom's label map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..sim import PROBE_ENV_IDS, make_nav_env
from ._nav_eval import paired_difference, summarize_episodes
from ._nav_scripted import NavPolicy
from ._policy_spec import policy_from_spec

PROBE_CONTROL_HZ = 10.0
"""Probe motions per second assumed for ``episode_time_s``."""
PROBE_METRICS = (
    "success_rate",
    "final_error_mm",
    "final_error_deg",
    "final_view_quality",
    "view_quality_gain",
    "path_length_mm",
    "path_deg",
    "episode_time_s",
)


@dataclass(frozen=True)
class ProbeEpisode:
    """One probe episode's outcome (see the module docstring for each figure)."""

    success_rate: float
    final_error_mm: float
    final_error_deg: float
    final_view_quality: float
    view_quality_gain: float
    path_length_mm: float
    path_deg: float
    episode_time_s: float
    reason: str
    phantom: int


def run_probe_episode(env: Any, policy: NavPolicy, seed: int) -> ProbeEpisode:
    """Run ``policy`` for one episode of a ProbeNav ``env`` reset with ``seed``."""
    obs, info = env.reset(seed=seed)
    policy.reset()
    start_quality, done = float(info["view_quality"]), False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.act(obs))
        done = terminated or truncated
    return ProbeEpisode(
        success_rate=float(bool(info["success"])),
        final_error_mm=float(info["pose_error_mm"]),
        final_error_deg=float(info["pose_error_deg"]),
        final_view_quality=float(info["view_quality"]),
        view_quality_gain=float(info["view_quality"]) - start_quality,
        path_length_mm=float(info["path_length_mm"]),
        path_deg=float(info["path_deg"]),
        episode_time_s=int(info["steps"]) / PROBE_CONTROL_HZ,
        reason=str(info["reason"]),
        phantom=int(info["phantom"]),
    )


def summarize_probe(runs: Sequence[Sequence[ProbeEpisode]], seed: int = 0) -> dict[str, Any]:
    """Each metric's mean and 95 % interval over episodes grouped by policy, plus the count of
    each episode end reason and the number of distinct phantoms."""
    out = summarize_episodes(runs, PROBE_METRICS, seed)
    out["phantoms"] = len({e.phantom for run in runs for e in run})
    return out


def evaluate_probe_policy(
    env_id: str,
    specs: Sequence[str],
    episodes: int,
    *,
    seed: int = 0,
    held_out: bool = False,
    perception: bool = False,
    against: str | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes (reset seeds ``seed``, ``seed + 1``, ...) of each policy named by
    ``specs`` on ``env_id`` (training or held-out phantoms) and summarize them; same seeds, same
    phantoms and start poses for every policy. ``against`` (a spec): that policy plays the same
    episodes too; ``report["against"]`` holds its summary and the paired differences.
    ``perception``: the policies see segmented B-mode frames (``ProbePerception``); the
    report counts them (``perception_frames``)."""
    if env_id not in PROBE_ENV_IDS:
        raise ValueError(f"{env_id} is not a probe environment: use {', '.join(PROBE_ENV_IDS)}")
    if episodes < 1:
        raise ValueError("episodes must be at least 1")
    policies = [policy_from_spec(s, env_id, seed + i) for i, s in enumerate(specs)]
    baseline = policy_from_spec(against, env_id, seed) if against is not None else None

    observer = None
    if perception:  # imported here: _probe_perception takes PROBE_CONTROL_HZ from this module
        from ._probe_perception import ProbePerception

        observer = ProbePerception()

    def play(policy: NavPolicy) -> list[ProbeEpisode]:
        env = make_nav_env(env_id, held_out=held_out, observer=observer)
        try:
            return [run_probe_episode(env, policy, seed + k) for k in range(episodes)]
        finally:
            env.close()

    runs = [play(p) for p in policies]
    report = summarize_probe(runs, seed)
    report["policies"] = [p.name for p in policies]
    if len(runs) > 1:
        report["per_policy"] = [summarize_probe([run], seed) for run in runs]
    if baseline is not None:
        base_run = play(baseline)
        report["against"] = {
            **summarize_probe([base_run], seed),
            "policies": [baseline.name],
            "difference": paired_difference(runs, base_run, PROBE_METRICS, seed),
        }
    report.update(
        env=env_id,
        held_out=held_out,
        seed=seed,
        episodes_per_policy=episodes,
        perception=perception,
    )
    if observer is not None:
        report["perception_frames"] = observer.frames
    return report
