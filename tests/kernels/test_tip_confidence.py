"""Tip confidence: the AUROC report on hand-made frames (exact values), and the ROI tracker's
confidence discounted by its own position uncertainty."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from orstream.kernels import ModelSpec, RoiTipTracker, tip_confidence_report

SIDE = 64


def test_a_confidence_that_ranks_every_bad_frame_lowest_scores_one() -> None:
    got = tip_confidence_report([0.9, 0.8, 0.2, 0.1], [0.5, 1.0, 5.0, math.inf])
    assert got["auroc"] == 1.0
    assert (got["bad_frames"], got["frames"]) == (2, 4)
    assert got["confidence_median_good"] == pytest.approx(0.85)
    assert got["confidence_median_bad"] == pytest.approx(0.15)
    assert (got["gate"], got["gate_passes_good"], got["gate_passes_bad"]) == (0.5, 1.0, 0.0)
    low_gate = tip_confidence_report([0.9, 0.3, 0.5, 0.1], [0.5, 1.0, 4.0, 9.0], gate=0.3)
    assert (low_gate["gate_passes_good"], low_gate["gate_passes_bad"]) == (1.0, 0.5)


def test_one_inverted_pair_of_four_gives_three_quarters() -> None:
    # bad: the 4 mm frame (confidence 0.5) and the missed one (NaN error, 0.1); good: 0.9, 0.3.
    # Of the 4 (bad, good) pairs only (0.5, 0.3) has the bad frame more confident.
    got = tip_confidence_report([0.9, 0.3, 0.5, 0.1], [0.5, 1.0, 4.0, math.nan])
    assert got["auroc"] == 0.75 and got["bad_frames"] == 2


def test_ties_count_half_and_the_threshold_itself_is_good() -> None:
    got = tip_confidence_report([0.5, 0.5, 0.9], [3.0, 3.5, 0.1])
    assert got["bad_frames"] == 1  # 3.0 mm is not above 3 mm
    assert got["auroc"] == 0.75  # bad 0.5 vs good 0.5 (tie, half) and vs good 0.9 (right)
    assert tip_confidence_report([0.5, 0.9], [3.5, 0.1], bad_above_mm=4.0)["auroc"] is None


def test_one_sided_or_mismatched_input() -> None:
    assert tip_confidence_report([0.2, 0.4], [0.1, 0.2])["auroc"] is None
    assert tip_confidence_report([0.2, 0.4], [0.1, 0.2])["confidence_median_bad"] is None
    with pytest.raises(ValueError, match="3 confidences but 2 tip errors"):
        tip_confidence_report([0.1, 0.2, 0.3], [1.0, 2.0])


class SpotBackend:
    """A stand-in tip model whose tip heatmap logits are 12 x (normalised image - 0.5)."""

    name = "spot"

    def __init__(self) -> None:
        self.model = ModelSpec(
            name="spot",
            onnx_path=Path("spot.onnx"),
            input_size=(SIDE, SIDE),
            in_channels=1,
            class_names=("background", "catheter"),
            normalization={"kind": "scale", "scale": 1.0 / 255.0},
            architecture={},
            sha256="",
            tip_channel=2,
        )

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(x), 3, SIDE, SIDE), np.float32)
        out[:, 2] = 12.0 * (x[:, 0] - 0.5)
        return out


def spot(
    xy: tuple[float, float] | None, shape: tuple[int, int] = (128, 128)
) -> npt.NDArray[np.uint8]:
    """A dark uint8 frame with a bright Gaussian spot (sigma 2 px) at ``xy`` (None: none)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    frame = np.full(shape, 10.0)
    if xy is not None:
        frame += 240.0 * np.exp(-((xx - xy[0]) ** 2 + (yy - xy[1]) ** 2) / 8.0)
    out: npt.NDArray[np.uint8] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def test_confidence_is_the_track_confidence_discounted_by_the_position_sigma() -> None:
    tracker = RoiTipTracker(SpotBackend(), sigma_ref_px=2.0)  # type: ignore[arg-type]
    seen = [tracker.step(spot((40.0 + i, 70.0)), i / 15) for i in range(8)]
    for est in seen:
        assert est.found
        expected = est.track_confidence / (1.0 + (est.sigma_px / 2.0) ** 2)
        assert est.confidence == pytest.approx(expected, rel=1e-12)
        assert 0.0 < est.confidence < est.track_confidence
    coasting = [tracker.step(spot(None), (8 + i) / 15) for i in range(4)]
    sigmas = [est.sigma_px for est in coasting]
    assert sigmas == sorted(sigmas) and sigmas[-1] > seen[-1].sigma_px  # it grows unseen
    ratio = [est.confidence / est.track_confidence for est in (seen[-1], *coasting)]
    assert ratio == sorted(ratio, reverse=True) and ratio[-1] < 0.5 * ratio[0]


def test_without_a_reference_sigma_the_track_confidence_is_reported_as_is() -> None:
    tracker = RoiTipTracker(SpotBackend(), sigma_ref_px=None)  # type: ignore[arg-type]
    est = tracker.step(spot((50.0, 60.0)), 0.0)
    assert est.found and est.confidence == est.track_confidence > 0.0
    lost = RoiTipTracker(SpotBackend()).step(spot(None), 0.0)  # type: ignore[arg-type]
    assert not lost.found and lost.confidence == 0.0 and lost.sigma_px == math.inf
    with pytest.raises(ValueError, match="sigma_ref_px must be positive"):
        RoiTipTracker(SpotBackend(), sigma_ref_px=0.0)  # type: ignore[arg-type]
