"""``orstream bench e2e``: both sides account for every frame (never gated on speed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import orstream.pipelines
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
    for key in ("p50", "p99", "max"):  # ours / imagezmq: below 1 exactly when ours is lower
        mine, theirs, ratio = (
            ours["latency_ms"][key],
            peer["latency_ms"][key],
            report["ratios"][key],
        )
        assert ratio > 0 and (ratio <= 1 if mine <= theirs else ratio >= 1), key
    text = e2e.render(report)
    assert "orstream" in text and "imagezmq" in text and "ours / imagezmq" in text
    json.dumps(report, allow_nan=False)


def test_ratios_are_ours_over_the_peer_to_three_significant_digits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Known answers worked out by hand, from figures the two runs are made to report."""

    def demo(*_: Any, **__: Any) -> tuple[dict[str, Any], None]:
        summary = {
            "frames": {"sent": 100, "received": 100, "processed": 98, "recorded": 100},
            "drops": {"live_by_kind": {"stale": 2}, "gaps": 0, "malformed": 0,
                      "record_gaps": 0, "device_late_frames": 0},
            "latency_ms": {"p50": 2.0, "p99": 5.0, "max": 10.0},
            "stages_ms": {"echo-lv": 1.0, "measure": 0.1},
            "fps": {"engine": 49.0, "device": 50.0},
        }  # fmt: skip
        return summary, None

    def peer(*_: Any, **__: Any) -> dict[str, Any]:
        return {"sent": 100, "processed": 100, "drops": 0, "errors": [], "fps": 50.0,
                "latency_ms": {"p50": 8.0, "p99": 4.0, "max": 3.0}}  # fmt: skip

    monkeypatch.setattr(orstream.pipelines, "run_demo", demo)
    monkeypatch.setattr(e2e, "run_peer", peer)
    monkeypatch.setattr(e2e, "module_version", lambda _name: "test")  # "imagezmq is there"
    report = e2e.run(duration_s=2.0)
    # 2/8, 5/4, 10/3 = 3.333..., 49/50
    assert report["ratios"] == {"p50": 0.25, "p99": 1.25, "max": 3.33, "fps": 0.98}
    assert report["orstream"]["drops"] == 2 and report["orstream"]["drops_by_kind"]["stale"] == 2
    assert report["errors"] == []
