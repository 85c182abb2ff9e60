"""``orstream bench inference``: the report's structure (never its speed)."""

from __future__ import annotations

import json

from orstream.bench import inference


def test_quick_report_times_every_model_on_every_backend_against_torch_eager() -> None:
    report = inference.run(quick=True)
    assert report["errors"] == []
    assert report["cases"], "at least the shipped echo-lv"
    for case in report["cases"]:
        assert set(case["backends"]) == set(report["backends"])
        for result in case["backends"].values():
            assert 0 < result["p50_ms"] <= result["p99_ms"] and result["fps"] > 0
        if "torch" in case["backends"]:
            assert set(case["ratios_to_torch_eager"]) == set(case["backends"]) - {"torch"}
    assert "p50 / torch" in inference.render(report)
    json.dumps(report, allow_nan=False)
