"""``orstream bench e2e``: both sides account for every frame (never gated on speed)."""

from __future__ import annotations

import json

from orstream.bench import e2e


def test_quick_report_accounts_for_every_frame_on_both_sides() -> None:
    report = e2e.run(duration_s=2.0)
    assert report["benchmark"] == "e2e" and report["errors"] == []
    frames = round(2.0 * e2e.FPS)
    ours, peer = report["orstream"], report["imagezmq"]
    assert ours["sent"] == frames and peer["sent"] == frames
    assert ours["processed"] + ours["drops"] == ours["sent"]
    kinds = ours["drops_by_kind"]
    assert kinds["stale"] + kinds["gaps"] + kinds["errors"] == ours["drops"]
    assert ours["recorded"] + ours["record_gaps"] == ours["sent"]
    assert peer["processed"] + peer["drops"] == peer["sent"] and peer["processed"] > 0
    for side in (ours, peer):
        lat = side["latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
        assert side["fps"] > 0
    assert set(ours["stages_ms"]) >= {"echo-lv", "measure"}
    assert set(report["ratios"]) == {"p50", "p99", "max", "fps"}
    expected = ours["latency_ms"]["p50"] / peer["latency_ms"]["p50"]
    assert abs(report["ratios"]["p50"] - expected) <= 0.005 * expected  # 3 significant digits
    text = e2e.render(report)
    assert "orstream" in text and "imagezmq" in text and "ours / imagezmq" in text
    json.dumps(report, allow_nan=False)
