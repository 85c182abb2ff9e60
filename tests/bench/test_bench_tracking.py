"""``orstream bench tracking``: the report's structure on one short fresh run."""

from __future__ import annotations

import json

from orstream.bench import tracking


def test_quick_report_tracks_with_and_without_roi() -> None:
    report = tracking.run(quick=True)
    assert report["benchmark"] == "tracking" and report["errors"] == []
    roi, whole = report["variants"]["roi"], report["variants"]["whole-frame"]
    assert roi["frames"] == whole["frames"] == 20
    assert roi["model_runs_per_frame"] < whole["model_runs_per_frame"]  # crops, not searches
    assert whole["model_runs_per_frame"] >= 2.0  # search and refine on every frame
    assert roi["found_share"] > 0.9 and roi["tip_error_mm_median"] < 2.0  # a sanity floor
    assert "whole-frame" in tracking.render(report)
    json.dumps(report, allow_nan=False)
