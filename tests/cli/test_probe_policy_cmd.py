"""``orstream eval policy --env orstream/ProbeNav-v0`` (a few episodes) and ``train policy``
on it (a tiny run, not real training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orstream.policies import PROBE_METRICS
from tests._helpers import orstream_main

pytest.importorskip("gymnasium")

ENV = "orstream/ProbeNav-v0"


def test_eval_probe_policy_random_held_out_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = orstream_main(
        "eval", "policy", "--env", ENV, "--policy", "random", "--episodes", "2",
        "--held-out", "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["env"] == ENV and report["held_out"] is True and report["episodes"] == 2
    assert report["policies"] == ["random"]
    for name in PROBE_METRICS:
        assert set(report[name]) == {"mean", "ci95"}


def test_eval_probe_policy_defaults_to_the_shipped_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = orstream_main("eval", "policy", "--env", ENV, "--episodes", "2", "--held-out", "--json")
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policies"] == ["probe-nav"] and report["episodes"] == 2


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (("--policy", "missing.onnx"), "does not exist"),
        (("--policy", "scripted", "--anatomy", "tree.txt"), "--anatomy"),
    ],
)
def test_eval_probe_policy_errors_are_one_line(
    extra: tuple[str, ...], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = orstream_main("eval", "policy", "--env", ENV, "--episodes", "1", *extra)
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and "\n" not in err


def test_eval_probe_policy_with_perception_segments_rendered_frames(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("--policy", "scripted", "--perception", "--held-out", "--episodes", "1", "--json")
    code = orstream_main("eval", "policy", "--env", "orstream/ProbeNav-v1", *args)
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["perception"] is True and report["perception_frames"] >= 1


def test_train_a_tiny_probe_policy_then_evaluate_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("stable_baselines3")
    run = tmp_path / "run"
    code = orstream_main(
        "train", "policy", "--env", ENV, "--steps", "256", "--n-envs", "2",
        "--checkpoint-steps", "128", "--out", str(run), "--no-progress",
    )  # fmt: skip
    assert code == 0
    onnx = Path(json.loads(capsys.readouterr().out)["onnx"])
    assert onnx.name == "probe-nav.onnx" and onnx.is_file()
    code = orstream_main(
        "eval", "policy", "--env", ENV, "--policy", str(onnx), "--episodes", "1", "--json"
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policies"] == ["probe-nav"] and report["episodes"] == 1
    # a probe policy is refused by the catheter environment, in one line
    code = orstream_main("eval", "policy", "--policy", str(onnx), "--episodes", "1")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "made for orstream/ProbeNav-v0" in err and "\n" not in err
