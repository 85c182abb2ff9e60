"""``orstream bench display``: every run is measured and reported side by side (no speed is
asserted). Shortened: no models, 0 and 1 viewers, a short warm-up."""

from __future__ import annotations

import json

import pytest

from orstream.bench import display
from tests._browser import require_chromium

pytestmark = pytest.mark.browser


def test_a_short_run_reports_added_and_engine_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    require_chromium()
    monkeypatch.setattr(display, "PIPELINES", ("none",))
    monkeypatch.setattr(display, "VIEWERS", (0, 1))
    monkeypatch.setattr(display, "WARMUP_S", 2.0)
    report = display.run(duration_s=2.0)
    assert report["errors"] == []
    alone, watched = report["runs"]
    assert (alone["viewers"], watched["viewers"]) == (0, 1)
    assert alone["engine_frames"] > 0 and watched["engine_frames"] > 0
    assert alone["added_ms"]["n"] == 0 and watched["added_ms"]["n"] > 0
    assert watched["added_ms"]["p50"] <= watched["added_ms"]["p99"]
    assert watched["capture_to_display_ms"]["p50"] >= watched["added_ms"]["p50"]
    assert "added p99 ms" in display.render(report)
    json.dumps(report, allow_nan=False)
