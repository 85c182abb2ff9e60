"""ProbeNav baselines: the feature servo beats random motions on held-out phantoms, and the
probe evaluation reports every probe metric."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from orstream.policies import (
    PROBE_METRICS,
    ProbeEpisode,
    RandomProbePolicy,
    ScriptedProbePolicy,
    calibrate_probe_servo,
    evaluate_probe_policy,
    run_probe_episode,
)
from orstream.sim import PROBE_ENV_IDS, PROBE_OBS_SIZE, PROBE_STEP_CAPS, make_nav_env

ENV_ID = PROBE_ENV_IDS[0]


def test_servo_model_shapes_and_actions_in_range() -> None:
    model = calibrate_probe_servo()
    assert model.target.shape == (PROBE_OBS_SIZE,)
    assert model.gains.shape == (len(PROBE_STEP_CAPS), PROBE_OBS_SIZE)
    act = ScriptedProbePolicy().act(np.zeros(PROBE_OBS_SIZE, np.float32))
    assert act.shape == (len(PROBE_STEP_CAPS),) and np.all(np.abs(act) <= 1.0)


def test_scripted_servo_beats_random_on_held_out_phantoms() -> None:
    env = make_nav_env(ENV_ID, held_out=True)
    seeds = range(6)
    scripted = [run_probe_episode(env, ScriptedProbePolicy(), s) for s in seeds]
    random = [run_probe_episode(env, RandomProbePolicy(0), s) for s in seeds]
    assert {e.phantom for e in scripted} == {e.phantom for e in random}

    def mean(eps: list[ProbeEpisode], name: str) -> float:
        return float(np.mean([getattr(e, name) for e in eps]))

    assert mean(scripted, "final_error_mm") < mean(random, "final_error_mm")
    assert mean(scripted, "final_view_quality") > mean(random, "final_view_quality")
    assert mean(scripted, "view_quality_gain") > 0.0
    assert mean(scripted, "success_rate") >= mean(random, "success_rate")


def test_evaluate_probe_policy_reports_every_metric_and_rejects_what_it_cannot_do() -> None:
    report = evaluate_probe_policy(ENV_ID, ["random"], episodes=2, held_out=True)
    assert report["episodes"] == 2 and report["held_out"] is True
    for name in PROBE_METRICS:
        lo, hi = report[name]["ci95"]
        assert lo <= report[name]["mean"] <= hi
    with pytest.raises(ValueError, match="does not exist"):
        evaluate_probe_policy(ENV_ID, ["missing-policy.onnx"], episodes=1)
    with pytest.raises(ValueError, match="not a probe environment"):
        evaluate_probe_policy("orstream/CatheterNav-v0", ["scripted"], episodes=1)
