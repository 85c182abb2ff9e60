"""``orstream demo``: device, engine and recorder as separate processes, one summary."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from orstream.stream import RecordingReader


def test_headless_demo_runs_every_process_and_accounts_for_every_frame() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orstream", "demo", "--headless", "--duration", "6", "--json"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    frames = summary["frames"]
    assert frames["sent"] == 300  # 6 s at the echo device's 50 fps
    assert frames["received"] + summary["drops"]["gaps"] == frames["sent"]
    assert (
        frames["processed"] + summary["drops"]["live_by_kind"].get("stale", 0)
        == (frames["received"])
    )
    assert frames["recorded"] + summary["drops"]["record_gaps"] == frames["sent"]
    assert summary["drops"]["malformed"] == 0
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    truth = summary["truth"]
    assert 0.05 < truth["ef"] < 0.95 and 20 < truth["heart_rate_bpm"] < 250
    assert len(summary["beats"]) >= 2, "live measurements found the beats"
    assert all(abs(beat["ef"] - truth["ef"]) <= 0.05 for beat in summary["beats"])
    assert abs(summary["heart_rate_bpm"] - truth["heart_rate_bpm"]) <= 3
    with RecordingReader(summary["recording"]) as reader:
        seqs = [frame.seq for frame in reader]
    assert len(seqs) == frames["recorded"] and seqs == sorted(seqs)


def test_fluoro_and_us_demos_track_their_tips() -> None:
    for modality, fps in (("fluoro", 15), ("us", 30)):
        result = subprocess.run(
            [sys.executable, "-m", "orstream", "demo", "--modality", modality, "--headless",
             "--duration", "4", "--json"],
            check=False, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        frames = summary["frames"]
        assert frames["sent"] == 4 * fps
        assert frames["recorded"] + summary["drops"]["record_gaps"] == frames["sent"]
        measured = summary["measurements"]
        assert measured["frames"] == frames["processed"] > 0
        assert 0.0 <= measured["mean_confidence"] <= 1.0
        if modality == "fluoro":  # the catheter is in view from the first frame
            assert measured["tip_found"] >= frames["processed"] - 2
            _check_closed_loop(summary["closed_loop"])
        else:
            assert "closed_loop" not in summary


def _check_closed_loop(loop: dict[str, Any]) -> None:
    """The demo's closed loop: the policy moved the robot, the robot the catheter, toward the
    target along the vessels, through the gate (a few seconds do not reach it)."""
    assert loop["gate"]["guidance"] == "policy:catheter-nav"
    assert loop["gate"]["transitions"].get("HOLD->ACTIVE:resumed", 0) >= 1
    assert loop["robot"]["messages"] > 0 and loop["robot"]["malformed"] == 0
    assert loop["path_mm"] > 5.0
    assert loop["final_error_mm"] < loop["start_error_mm"] - 5.0
    assert loop["robot_halts"] == []  # the feed never went silent while the device ran
