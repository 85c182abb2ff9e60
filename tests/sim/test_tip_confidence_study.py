"""The tip-confidence study on a few fresh simulator frames with the shipped models: the
reports add up, errors are in mm against the simulator's truth, and the spread is exact."""

from __future__ import annotations

import pytest

from orstream.kernels import load_backend
from orstream.sim import (
    confidence_spread,
    fluoro_tip_confidence,
    needle_tip_confidence,
    render_needle,
    robot_fluoro_tip_confidence,
)

SEED = 6_500_000  # the unit-test seeds of fluoro-catheter (docs/models/fluoro-catheter.md)


@pytest.fixture(scope="module")
def fluoro() -> object:
    return load_backend("fluoro-catheter", "onnxruntime", threads=1)


def test_confidence_spread_counts_the_shares_a_gate_would_see() -> None:
    got = confidence_spread([0.1, 0.4, 0.6, 0.9])
    assert got["frames"] == 4 and got["confidence"]["median"] == 0.5
    assert got["share_below_0_5"] == 0.5 and got["share_detected"] == 0.5
    assert confidence_spread([])["share_below_0_5"] is None


def test_fluoro_report_adds_up_and_the_tip_is_found_within_mm(fluoro: object) -> None:
    got = fluoro_tip_confidence(fluoro, [SEED], frames=12)  # type: ignore[arg-type]
    assert got["frames"] == got["confidence"]["frames"] == 12
    assert got["runs"] == 1 and got["seeds"] == [SEED, SEED]
    assert sum(got["bad_frames_by_anatomy"].values()) == got["confidence"]["bad_frames"]
    assert got["track_confidence"]["bad_frames"] == got["confidence"]["bad_frames"]
    assert got["tip_error_mm"]["n"] + got["tip_not_found_frames"] == 12
    assert got["tip_error_mm"]["median"] < 3.0  # mm, against the simulator's tip
    low = fluoro_tip_confidence(fluoro, [SEED], dose=20.0, frames=3)  # type: ignore[arg-type]
    assert low["dose"] == 20.0 and low["frames"] == 3


def test_robot_fluoro_report_tracks_the_driven_catheter(fluoro: object) -> None:
    got = robot_fluoro_tip_confidence(fluoro, [SEED], frames=10)  # type: ignore[arg-type]
    assert got["frames"] == 10 and got["advance_mm_s"] == 4.0
    assert got["catheter_path_mm"]["max"] == pytest.approx(4.0 * 9 / 15)  # 9 frame steps
    assert got["tip_error_mm"]["median"] < 3.0


def test_needle_report_counts_frames_without_a_tip_as_bad() -> None:
    backend = load_backend("us-needle", "onnxruntime", threads=1)
    data = render_needle("test", 4, frames_per_seed=2, rows=160, progress=None)
    got = needle_tip_confidence(backend, data)
    visible = got["frames_tip_visible"]
    assert got["frames"] == 8 and visible + got["tip_not_in_view_frames"] == 8
    assert got["tip_visible_only"]["frames"] == visible
    assert got["confidence"]["bad_frames"] >= got["tip_not_in_view_frames"]
    assert (
        got["confidence"]["bad_frames"] - got["tip_not_in_view_frames"]
        == got["tip_visible_only"]["bad_frames"]
    )
