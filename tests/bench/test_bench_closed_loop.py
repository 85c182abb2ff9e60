"""``orstream bench closed_loop``: the report's shape and its rendering, on a short run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orstream.bench import all as bench_all
from orstream.bench import closed_loop
from orstream.pipelines import GUIDANCES

REPO = Path(__file__).resolve().parents[2]


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


def test_the_published_report_renders_rounded_and_heads_the_index(tmp_path: Path) -> None:
    """The report in docs/benchmarks: its table shows figures as a reader wants them (no
    float repr), and ``bench all``'s index gives each guidance's success and SPL."""
    report = json.loads((REPO / "docs/benchmarks/closed_loop.json").read_text())
    table = closed_loop.render(report)
    assert not re.search(r"\d\.\d{4,}", table)
    (tmp_path / "closed_loop.json").write_text(json.dumps(report))
    index = bench_all.write_index(tmp_path).read_text()
    assert all(f"{g}: success " in index for g in report["guidances"])
