"""``orstream bench sim``'s environment-steps section: its structure (never its speed)."""

from __future__ import annotations

import json

import pytest

from orstream.bench import sim

pytest.importorskip("gymnasium")


def test_sim_report_has_env_step_rates_per_case() -> None:
    report = sim.run(quick=True, duration_s=0.05)
    nav = report["nav"]
    assert nav["error"] is None
    names = [c["case"] for c in nav["cases"]]
    assert names == [
        "nav-bare", "nav-wrapped", "nav-vector-8", "nav-perception",
        "probe-96px", "probe-64px", "probe-v1-96px", "probe-v1-perception",
    ]  # fmt: skip
    for case in nav["cases"]:
        assert case["steps"] > 0 and case["steps_per_cpu_s"] > 0 and case["ms_per_step_cpu"] > 0
        assert (case["goal_met"] is None) == (case["goal_ms"] is None)
    assert nav["ms_per_reset_cpu"] > 0
    assert "steps/CPU-s" in sim.render(report)
    json.dumps(report, allow_nan=False)
