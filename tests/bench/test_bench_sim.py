"""``orstream bench sim``: the report's structure (never its speed)."""

from __future__ import annotations

import json

from orstream.bench import sim


def test_quick_report_has_every_case_with_positive_rates() -> None:
    report = sim.run(quick=True, duration_s=0.05)
    assert report["benchmark"] == "sim" and report["errors"] == []
    assert [c["case"] for c in report["cases"]] == [name for name, *_ in sim.CASES]
    for case in report["cases"]:
        assert case["frames"] >= len(sim.SEEDS)
        assert case["fps_cpu"] > 0 and case["fps_wall"] > 0
        assert (case["goal_met"] is None) == (case["goal_fps"] is None)
    assert "frames/CPU-s" in sim.render(report)
    json.dumps(report, allow_nan=False)
