"""The ProbeNav oracle (the privileged expert that reads the true probe pose) reaches and holds
the view; it labels demonstrations for a policy trained on perceived features, and the options
that set this up refuse what they cannot do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("onnx")

from orstream.policies import NavTrainConfig, ProbeOracle, load_nav_config, train_nav_policy
from orstream.sim import PROBE_ENV_IDS, make_nav_env

ENV = PROBE_ENV_IDS[-1]  # ProbeNav-v1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_oracle_goes_straight_to_the_view_and_stops_there(seed: int) -> None:
    env = make_nav_env(ENV)
    oracle = ProbeOracle(env)
    obs, info = env.reset(seed=seed)
    oracle.reset()
    start = np.abs(np.asarray(info["offset"]))
    for _ in range(40):
        action = oracle.act(obs)
        assert action.shape == (5,) and np.all(np.abs(action) <= 1.0)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    assert info["success"] and not truncated
    # as fast as the caps allow (2 mm, 3 deg a step), plus the dwell at the view
    assert info["steps"] <= int(np.ceil(max(start[:3].max() / 2.0, start[3:].max() / 3.0))) + 3


def test_oracle_demonstrations_on_segmented_frames_train_a_policy(tmp_path: Path) -> None:
    cfg = NavTrainConfig(
        env_id=ENV,
        steps=32,
        n_envs=1,
        n_steps=32,
        batch_size=32,
        checkpoint_steps=32,
        net_arch=[32, 32],
        demo_steps=60,
        demo_expert="oracle",
        demo_rounds=2,
        demo_epochs=2,
        perception=True,
        name="probe-nav-v1",
    )
    report = train_nav_policy(cfg, tmp_path / "run", progress=False)
    demos = json.loads((tmp_path / "run" / "demos.json").read_text())
    assert demos["steps"] >= 60 and len(demos["action_mse"]) == 2
    saved = load_nav_config(tmp_path / "run")
    assert saved.perception and saved.demo_expert == "oracle" and saved.demo_rounds == 2
    assert Path(report["onnx"]).is_file()


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"demo_expert": "oracle"}, "--demo-expert"),
        ({"env_id": ENV, "demo_expert": "teacher"}, "--demo-expert"),
        ({"perception": True}, "--perception apply to the probe"),
        ({"env_id": ENV, "perception": True, "mask_noise": True}, "one of --mask-noise"),
        ({"demo_rounds": 0}, "--demo-rounds"),
    ],
)
def test_options_it_cannot_honour_are_one_clear_error(
    settings: dict[str, object], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        NavTrainConfig(**settings).check()  # type: ignore[arg-type]
