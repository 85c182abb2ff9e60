"""Navigation baselines and evaluation: the scripted PD follower beats the random policy on
held-out anatomies, and every metric comes with a 95 % interval."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from orstream.policies import (
    NAV_METRICS,
    NavEpisode,
    RandomNavPolicy,
    ScriptedNavPolicy,
    bootstrap_interval,
    evaluate_nav,
    paired_difference,
    summarize_nav,
)
from orstream.sim import make_nav_env


def _held_out() -> object:
    return make_nav_env("orstream/CatheterNav-v0", held_out=True)


def test_scripted_beats_random_on_held_out_anatomies_with_intervals() -> None:
    scripted = evaluate_nav(_held_out, [ScriptedNavPolicy()], episodes=12, seed=100)
    random = evaluate_nav(_held_out, [RandomNavPolicy(0)], episodes=12, seed=100)
    for report in (scripted, random):
        assert report["episodes"] == 12
        for name in NAV_METRICS:
            lo, hi = report[name]["ci95"]
            assert lo <= report[name]["mean"] <= hi
        assert 0.0 <= report["safety"]["mean"] <= 1.0
        assert report["spl"]["mean"] <= report["success_rate"]["mean"]
    assert scripted["success_rate"]["mean"] >= 0.75
    assert scripted["success_rate"]["mean"] > random["success_rate"]["mean"]
    assert scripted["safety"]["mean"] > random["safety"]["mean"]
    assert scripted["final_error_mm"]["mean"] < random["final_error_mm"]["mean"]


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_data() -> None:
    rng = np.random.default_rng(0)
    few = [list(rng.normal(1.0, 1.0, 10))]
    many = [list(rng.normal(1.0, 1.0, 1000))]
    m1, lo1, hi1 = bootstrap_interval(few, np.random.default_rng(1), 500)
    m2, lo2, hi2 = bootstrap_interval(many, np.random.default_rng(1), 500)
    assert lo1 <= m1 <= hi1 and lo2 <= m2 <= hi2
    assert hi2 - lo2 < hi1 - lo1
    assert lo2 < 1.0 < hi2
    grouped = [[0.0] * 20, [1.0] * 20]  # two seeds that disagree: the interval spans both
    m, lo, hi = bootstrap_interval(grouped, np.random.default_rng(2), 500)
    assert m == 0.5 and lo == 0.0 and hi == 1.0
    with pytest.raises(ValueError, match="no episodes"):
        bootstrap_interval([[]], np.random.default_rng(0))


def _episode(spl: float) -> NavEpisode:
    return NavEpisode(1.0, 1.0, 1.0, spl, 100.0, 10.0, 0.01, 0.1, 1.0, 0.5, "success", "arch")


def test_paired_difference_shows_what_overlapping_intervals_hide() -> None:
    rng = np.random.default_rng(3)
    base_spl = rng.uniform(0.5, 1.0, 60)  # episodes differ a lot from one another
    baseline = [_episode(float(v)) for v in base_spl]
    better = [[_episode(float(v) + 0.02) for v in base_spl] for _ in range(3)]  # 3 seeds
    apart = summarize_nav([baseline]), summarize_nav(better)
    assert apart[1]["spl"]["ci95"][0] < apart[0]["spl"]["ci95"][1]  # the intervals overlap
    diff = paired_difference(better, baseline, ["spl", "safety"])
    assert diff["spl"]["mean"] == pytest.approx(0.02)
    assert diff["spl"]["ci95"] == pytest.approx([0.02, 0.02])  # every episode is 0.02 better
    assert diff["safety"] == {"mean": 0.0, "ci95": [0.0, 0.0]}
    noise = rng.normal(0.0, 0.1, 60)
    noise -= noise.mean()
    noisy = [[_episode(float(v + d)) for v, d in zip(base_spl, noise, strict=True)]]
    lo, hi = paired_difference(noisy, baseline, ["spl"])["spl"]["ci95"]
    assert lo < 0.0 < hi  # no systematic difference: the interval spans 0
    with pytest.raises(ValueError, match="same episodes"):
        paired_difference([better[0][:10]], baseline, ["spl"])
