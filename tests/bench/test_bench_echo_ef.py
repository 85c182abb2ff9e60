"""``orstream bench echo_ef``: the report's structure on a few fresh clips."""

from __future__ import annotations

import json

from orstream.bench import echo_ef


def test_quick_report_measures_fresh_clips_against_truth() -> None:
    report = echo_ef.run(quick=True)
    assert report["benchmark"] == "echo_ef" and report["errors"] == []
    assert len(report["clips"]) == 5
    assert [c["renderer"] for c in report["clips"]] == ["sim"] * 4 + ["rf"]
    assert all(c["seed"] >= echo_ef.FIRST_SEED for c in report["clips"])
    summary = report["summary"]
    assert summary["measured"] >= 3
    assert 0 <= summary["ef_mae"] < 0.15  # a sanity bound; the goal is checked by the benchmark
    assert 0.5 < summary["lv_dice_mean"] <= 1.0
    assert report["generalization"]["clips"] == 1
    assert 0.5 < report["generalization"]["lv_dice_mean"] <= 1.0  # the renderer it never saw
    assert "physics-based rf" in echo_ef.render(report)
    json.dumps(report, allow_nan=False)
