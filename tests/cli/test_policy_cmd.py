"""``orstream train policy`` and ``orstream eval policy`` (a tiny run, not real training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orstream.policies import NAV_METRICS, PROBE_METRICS
from tests._helpers import orstream_main, y_tree_file

pytest.importorskip("stable_baselines3")


def test_eval_policy_scripted_held_out_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = orstream_main(
        "eval", "policy", "--policy", "scripted", "--episodes", "3", "--held-out", "--json"
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["held_out"] is True and report["episodes"] == 3
    assert report["policies"] == ["scripted"]
    for name in NAV_METRICS:
        assert set(report[name]) == {"mean", "ci95"}


@pytest.mark.parametrize(
    ("env", "metrics"),
    [("orstream/CatheterNav-v0", NAV_METRICS), ("orstream/ProbeNav-v0", PROBE_METRICS)],
)
def test_eval_policy_against_a_baseline_pairs_the_episodes(
    capsys: pytest.CaptureFixture[str], env: str, metrics: tuple[str, ...]
) -> None:
    args = ["--env", env, "--policy", "scripted", "--against", "random", "--episodes", "3"]
    assert orstream_main("eval", "policy", *args, "--held-out", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    base = report["against"]
    assert base["policies"] == ["random"] and base["episodes"] == 3
    for name in metrics:  # the difference is the policy's mean minus the baseline's
        want = report[name]["mean"] - base[name]["mean"]
        assert base["difference"][name]["mean"] == pytest.approx(want, abs=2e-4)
    assert orstream_main("eval", "policy", *args) == 0
    text = capsys.readouterr().out
    assert "against random on the same episodes" in text and "paired" in text


@pytest.mark.parametrize("perception", [False, True])
def test_eval_policy_on_a_tree_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], perception: bool
) -> None:
    tree = y_tree_file(tmp_path / "y.txt")
    args = ["--policy", "scripted", "--anatomy", str(tree), "--episodes", "2", "--json"]
    code = orstream_main("eval", "policy", *args, *(["--perception"] if perception else []))
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["anatomies"] == {"y": 2} and report["anatomy"] == str(tree)
    assert report["perception"] is perception
    if perception:  # the file's tree is drawn in view and its catheter tracked
        assert report["tip_tracking_error_mm"]["steps"] > 0
        assert report["tip_tracking_error_mm"]["median"] < 3.0


@pytest.mark.parametrize("kind", ["anatomy", "policy"])
def test_bad_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("not a tree\n")
    code = orstream_main("eval", "policy", f"--{kind}", str(bad), "--episodes", "1")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "error" in err


def test_train_policy_tiny_run_then_resume_then_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["--steps", "64", "--n-envs", "2", "--checkpoint-steps", "256", "--no-progress"]
    assert orstream_main("train", "policy", *args, "--seed", "3", "--out", str(out)) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] >= 64 and Path(report["onnx"]).is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 3 and config["command"].startswith("orstream train policy")
    assert orstream_main("train", "policy", "--resume", str(out), "--no-progress") == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["resumed_from"] is not None and resumed["steps"] == report["steps"]
    code = orstream_main("eval", "policy", "--policy", report["onnx"], "--episodes", "1")
    assert code == 0
    assert "success_rate" in capsys.readouterr().out
