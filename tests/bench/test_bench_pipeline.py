"""``orstream bench pipeline``: every live pipeline and its plain-loop peer are measured, and
every frame is accounted for (no speed is asserted)."""

from __future__ import annotations

import json

from orstream.bench import pipeline


def test_quick_run_measures_every_pipeline_and_its_peer() -> None:
    report = pipeline.run(duration_s=1.0)
    assert report["errors"] == []
    assert [c["modality"] for c in report["cases"]] == ["echo", "fluoro", "us"]
    for case in report["cases"]:
        ours, plain = case["ours"], case["plain_loop"]
        assert ours["frames"] > 0 and plain["frames"] > 0
        assert ours["frames"] + ours["drops"] <= ours["received"] + 1  # one may be in flight
        assert plain["frames"] + plain["backlog"] <= plain["received"]
        lat = ours["latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
        assert case["goal"]["met"] == (lat["p99"] <= case["goal"]["p99_ms"] and not ours["drops"])
    fluoro = report["cases"][1]["ours"]["measurements"]
    assert fluoro["tip_found"] >= 1 and "tip_error_mm" in fluoro  # the sim source's truth
    assert "p99 ours/plain" in pipeline.render(report)
    json.dumps(report, allow_nan=False)
