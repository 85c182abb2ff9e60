"""``orstream bench closed_loop``: the report's shape and its rendering, on a short run."""

from __future__ import annotations

import pytest

from orstream.bench import closed_loop
from orstream.pipelines import GUIDANCES


def test_a_quick_run_reports_every_guidance_and_the_ratios(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(closed_loop, "QUICK_FRAMES", 30)  # 2 s per guidance
    lines: list[str] = []
    report = closed_loop.run(quick=True, progress=lines.append)
    assert list(report["guidances"]) == list(GUIDANCES)
    assert len(lines) == len(GUIDANCES)
    for doc in report["guidances"].values():
        (row,) = doc["runs"]
        assert row["frames"] == 30 and row["seed"] == 1
        assert 0.0 <= row["spl"] <= 1.0 and row["final_error_mm"] <= row["start_error_mm"] + 1e-6
        assert doc["summary"]["runs"] == 1 and 0.0 <= doc["summary"]["success_rate"] <= 1.0
    assert set(report["policy_vs_scripted"]) == {"success_rate", "time_to_target", "spl"}
    text = closed_loop.render(report)
    assert "policy / scripted" in text and all(g in text for g in GUIDANCES)
