"""A short PPO run: checkpoints, resume, the config beside them, the ONNX actor run by
ONNX Runtime; a policy file that is missing, corrupt or for another environment is one error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
onnx = pytest.importorskip("onnx")

from orstream.policies import (  # noqa: E402
    NavTrainConfig,
    OnnxPolicy,
    evaluate_nav,
    latest_checkpoint,
    load_nav_config,
    train_nav_policy,
)
from orstream.sim import NAV_OBS_SIZE, make_nav_env  # noqa: E402

ENV = "orstream/CatheterNav-v0"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nav") / "run"
    cfg = NavTrainConfig(
        steps=128, n_envs=2, n_steps=32, batch_size=32, checkpoint_steps=64, command="test"
    )
    report = train_nav_policy(cfg, out, progress=False)
    assert report["steps"] == 128 and report["resumed_from"] is None
    return out


def test_short_run_saves_config_checkpoints_logs_and_onnx(run: Path) -> None:
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["steps"] == 128 and cfg["algo"] == "ppo" and cfg["command"] == "test"
    assert latest_checkpoint(run) == run / "checkpoints" / "catheter-nav_128_steps.zip"
    assert any((run / "tb").rglob("events.out.tfevents.*"))
    policy = OnnxPolicy(run / "catheter-nav.onnx", ENV)
    action = policy.act(np.zeros(NAV_OBS_SIZE, np.float32))
    assert action.shape == (2,) and action.dtype == np.float32 and np.all(np.abs(action) <= 1)
    batch = policy.act_batch(np.zeros((3, NAV_OBS_SIZE), np.float32))
    assert batch.shape == (3, 2)


def test_onnx_matches_the_sb3_actor(run: Path) -> None:
    from stable_baselines3 import PPO

    model = PPO.load(str(run / "final.zip"), device="cpu")
    policy = OnnxPolicy(run / "catheter-nav.onnx", ENV)
    obs = np.random.default_rng(0).uniform(-1, 1, (5, NAV_OBS_SIZE)).astype(np.float32)
    want, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(policy.act_batch(obs), np.clip(want, -1, 1), atol=1e-5)


def test_resume_continues_from_the_newest_checkpoint(run: Path) -> None:
    cfg = load_nav_config(run)
    raw = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**raw, "steps": 192}))
    report = train_nav_policy(load_nav_config(run), run, resume=True, progress=False)
    assert cfg.steps == 128
    assert report["steps"] == 192
    assert report["resumed_from"].endswith("catheter-nav_128_steps.zip")


def test_trained_policy_runs_in_the_evaluation(run: Path) -> None:
    policy = OnnxPolicy(run / "catheter-nav.onnx", ENV)
    report = evaluate_nav(lambda: make_nav_env(ENV), [policy], episodes=2, seed=7)
    assert report["episodes"] == 2 and report["policies"] == ["catheter-nav"]


def test_missing_corrupt_or_foreign_policy_file_is_one_clear_error(
    run: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        OnnxPolicy(tmp_path / "none.onnx", ENV)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        OnnxPolicy(bad, ENV)
    graph = onnx.load(str(run / "catheter-nav.onnx"))
    for prop in graph.metadata_props:
        if prop.key == "env_id":
            prop.value = "orstream/ProbeNav-v0"
    foreign = tmp_path / "foreign.onnx"
    onnx.save(graph, str(foreign))
    with pytest.raises(ValueError, match="made for orstream/ProbeNav-v0, not"):
        OnnxPolicy(foreign, ENV)


def test_resume_without_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no readable config\.json"):
        load_nav_config(tmp_path)
    with pytest.raises(ValueError, match="must be one of"):
        NavTrainConfig(algo="dqn").check()


def test_tip_noise_trains_on_the_tracked_tip_and_is_for_the_catheter_only(tmp_path: Path) -> None:
    cfg = NavTrainConfig(
        steps=64, n_envs=1, n_steps=32, batch_size=32, checkpoint_steps=64, tip_noise=True
    )
    train_nav_policy(cfg, tmp_path / "run", progress=False)
    assert load_nav_config(tmp_path / "run").tip_noise
    with pytest.raises(ValueError, match="catheter environments only"):
        NavTrainConfig(env_id="orstream/ProbeNav-v0", tip_noise=True).check()


def test_safety_penalty_is_saved_reaches_the_env_and_is_for_the_catheter_only() -> None:
    cfg = NavTrainConfig(safety_penalty=1.0, tip_noise=True)
    cfg.check()
    assert cfg.env_kwargs()["safety_penalty"] == 1.0
    assert "safety_penalty" not in NavTrainConfig().env_kwargs()
    for bad in (
        NavTrainConfig(safety_penalty=-1.0),
        NavTrainConfig(env_id="orstream/ProbeNav-v1", safety_penalty=1.0),
    ):
        with pytest.raises(ValueError, match="--safety-penalty"):
            bad.check()


def test_mask_noise_trains_on_a_noisy_label_map_and_is_for_the_probe_only(tmp_path: Path) -> None:
    cfg = NavTrainConfig(
        env_id="orstream/ProbeNav-v1",
        steps=64,
        n_envs=1,
        n_steps=32,
        batch_size=32,
        checkpoint_steps=64,
        mask_noise=True,
    )
    train_nav_policy(cfg, tmp_path / "run", progress=False)
    assert load_nav_config(tmp_path / "run").mask_noise
    with pytest.raises(ValueError, match="probe environments only"):
        NavTrainConfig(mask_noise=True).check()
