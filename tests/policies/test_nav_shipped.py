"""The shipped CatheterNav policy: its card matches the file, it loads without torch's help,
and ``eval policy`` uses it by default."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from orstream.policies import SHIPPED_POLICIES, OnnxPolicy, shipped_policy_path
from orstream.sim import NAV_OBS_SIZE
from tests._helpers import orstream_main

ENV = "orstream/CatheterNav-v0"


def test_every_shipped_policy_has_a_card_that_matches_it() -> None:
    for env_id in SHIPPED_POLICIES:
        path = shipped_policy_path(env_id)
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["env_id"] == env_id and card["obs_size"] == NAV_OBS_SIZE
        assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert card["command"].startswith("orstream train policy")
        assert set(card["steps_per_seed"]) == {str(s) for s in card["seeds"]}
        held = card["metrics_held_out"]
        for name in ("learned_3_seeds", "scripted", "random"):
            assert 0.0 <= held[name]["success_rate"]["mean"] <= 1.0
        policy = OnnxPolicy(path, env_id)
        action = policy.act(np.zeros(NAV_OBS_SIZE, np.float32))
        assert action.shape == (2,)


def test_eval_policy_defaults_to_the_shipped_policy(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gymnasium")
    assert orstream_main("eval", "policy", "--episodes", "2", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policies"] == ["catheter-nav"] and report["episodes"] == 2
