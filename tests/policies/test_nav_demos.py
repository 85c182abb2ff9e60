"""Warm start from the scripted controller's demonstrations (``demo_steps``): the policy
fitted to them, before any real PPO training, already reaches held-out targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("onnx")

from orstream.policies import (
    NavTrainConfig,
    OnnxPolicy,
    RandomNavPolicy,
    evaluate_nav,
    load_nav_config,
    train_nav_policy,
)
from orstream.sim import make_nav_env

ENV = "orstream/CatheterNav-v0"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demos") / "run"
    cfg = NavTrainConfig(
        steps=64,
        n_envs=1,
        n_steps=64,
        batch_size=64,
        checkpoint_steps=64,
        learning_rate=3e-5,
        log_std_init=-2.3,
        demo_steps=15000,
        command="test",
    )
    train_nav_policy(cfg, out, progress=False)
    return out


def test_demonstrations_are_recorded_and_the_fit_improves_over_rounds(run: Path) -> None:
    demos = json.loads((run / "demos.json").read_text())
    assert demos["steps"] >= 15000 and demos["episodes"] > 0
    mse = demos["action_mse"]
    assert len(mse) == 3 and mse[-1] < mse[0]
    assert load_nav_config(run).demo_steps == 15000


def test_a_warm_started_policy_reaches_held_out_targets(run: Path) -> None:
    def make_env() -> object:
        return make_nav_env(ENV, held_out=True)

    warm = evaluate_nav(make_env, [OnnxPolicy(run / "catheter-nav.onnx", ENV)], 6, seed=1000)
    rand = evaluate_nav(make_env, [RandomNavPolicy(0)], 6, seed=1000)
    assert warm["success_rate"]["mean"] >= 0.5 > rand["success_rate"]["mean"]


def test_demonstrations_warm_start_ppo_only() -> None:
    with pytest.raises(ValueError, match="PPO only"):
        NavTrainConfig(algo="sac", demo_steps=100).check()
