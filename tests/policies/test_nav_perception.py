"""Perception in the loop: the catheter of an episode rendered as fluoroscopy and tracked by
the shipped fluoro-catheter model lands near the true tip, and feeds the observation."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from orstream.policies import PerceivedTip, ScriptedNavPolicy, evaluate_nav
from orstream.sim import NAV_OBS_LAYOUT, NavFluoroRenderer, make_nav_env

CONF = NAV_OBS_LAYOUT.index("confidence")


def test_renderer_maps_mm_and_px_both_ways() -> None:
    r = NavFluoroRenderer("coronary", 0.2, size=256)
    mm = np.array([[10.0, 20.0], [102.4, 102.4]])
    np.testing.assert_allclose(r.to_mm(r.to_px(mm)), mm)
    np.testing.assert_allclose(r.to_px(mm[1:]), [[128.0, 128.0]])  # the view's centre


def test_tracked_tip_feeds_the_observation_and_lands_near_the_truth() -> None:
    observer = PerceivedTip()
    env = make_nav_env("orstream/CatheterNav-v0", held_out=True, observer=observer)
    policy = ScriptedNavPolicy()
    obs, _ = env.reset(seed=11)
    confidences = [float(obs[CONF])]
    for _ in range(60):  # until the tip has been in the collimated field for a few frames
        obs, _, term, trunc, _ = env.step(policy.act(obs))
        confidences.append(float(obs[CONF]))
        if len(observer.errors_mm) >= 5 or term or trunc:
            break
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert any(c < 1.0 for c in confidences)  # not the ground truth's constant 1
    assert observer.errors_mm, "the tracker never held the tip"
    assert float(np.median(observer.errors_mm)) < 3.0


def test_evaluation_with_perception_reports_tracking_error() -> None:
    observer = PerceivedTip()
    report = evaluate_nav(
        lambda: make_nav_env("orstream/CatheterNav-v0", held_out=True, observer=observer),
        [ScriptedNavPolicy()],
        episodes=1,
        seed=21,
    )
    assert report["episodes"] == 1 and len(observer.errors_mm) > 0
