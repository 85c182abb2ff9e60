"""ROI tip tracking: search pass, refine, ROI pass, loss and recovery, coordinates exact.

The backend here is a stand-in "model" whose tip heatmap is its input image: frames hold one
bright Gaussian spot at a known sub-pixel position, so every coordinate mapping (letterbox,
shrink, crop, back to frame pixels) is checked against the truth without a trained network.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from orstream.kernels import ModelSpec, RoiTipTracker, tip_candidates, tip_from_heatmap

SIDE = 128


class SpotBackend:
    """Logits: class 0 zeros, class 1 zeros, tip channel = 12 * (normalised image - 0.5)."""

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
        self.input_size = self.model.input_size
        self.class_names = self.model.class_names
        self.calls: list[tuple[int, ...]] = []

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.calls.append(x.shape)
        out = np.zeros((len(x), 3, SIDE, SIDE), np.float32)
        out[:, 2] = 12.0 * (x[:, 0] - 0.5)
        return out


def spot_frame(
    shape: tuple[int, int], xy: tuple[float, float] | None, sigma: float, peak: float = 240.0
) -> np.ndarray:
    """uint8 frame, dark (10), with a Gaussian spot ``peak`` above it at ``xy`` (None: none)."""
    frame = np.full(shape, 10.0)
    if xy is not None:
        r = int(5 * sigma) + 1
        x0, y0 = max(int(xy[0]) - r, 0), max(int(xy[1]) - r, 0)
        yy, xx = np.mgrid[y0 : int(xy[1]) + r + 1, x0 : int(xy[0]) + r + 1]
        spot = peak * np.exp(-((xx - xy[0]) ** 2 + (yy - xy[1]) ** 2) / (2 * sigma**2))
        frame[y0 : y0 + spot.shape[0], x0 : x0 + spot.shape[1]] += spot[
            : shape[0] - y0, : shape[1] - x0
        ]
    return np.clip(frame, 0, 255).astype(np.uint8)


def test_tip_from_heatmap_is_sub_pixel_on_a_gaussian() -> None:
    yy, xx = np.mgrid[0:32, 0:32]
    logits = np.log(1e-6 + np.exp(-((xx - 10.3) ** 2 + (yy - 20.7) ** 2) / 4.5)).astype(np.float32)
    x, y, p = tip_from_heatmap(logits + 3.0)
    assert abs(x - 10.3) < 0.15 and abs(y - 20.7) < 0.15 and 0.9 < p < 1.0


def _logits(spots: list[tuple[float, float, float]], shape: tuple[int, int]) -> np.ndarray:
    """Tip logits of Gaussian blobs (x, y, peak probability), sigma 1.5 px, on probability 1e-4."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    prob = np.full(shape, 1e-4)
    for x, y, p in spots:
        prob = np.maximum(prob, p * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.5))
    prob = np.clip(prob, 1e-6, 1 - 1e-6)
    return np.log(prob / (1 - prob)).astype(np.float32)


def test_tip_candidates_are_the_separate_peaks_strongest_first() -> None:
    spots = [(20.3, 30.6, 0.45), (90.2, 70.7, 0.9), (60.0, 10.0, 0.2), (5.0, 100.0, 0.03)]
    logits = _logits(spots, (128, 128))
    got = tip_candidates(logits, floor=0.05)
    # 0.03 is below the floor; a sub-pixel blob's peak pixel holds a little less than its peak
    assert [p for _, _, p in got] == pytest.approx([0.9, 0.45, 0.2], rel=0.06)
    for (x, y, _), (tx, ty, _) in zip(got, [spots[1], spots[0], spots[2]], strict=True):
        assert abs(x - tx) < 0.15 and abs(y - ty) < 0.15
    assert got[0] == tip_from_heatmap(logits)  # the strongest is the plain peak
    assert tip_candidates(logits, floor=0.05, k=2) == got[:2]
    # the slopes of a peak are not peaks of their own, however far the suppression reaches
    wide = _logits([(64.0, 64.0, 0.9)], (128, 128))
    assert len(tip_candidates(wide, floor=0.01, min_distance_px=1.0)) == 1
    assert tip_candidates(_logits([], (64, 64)), floor=0.05) == []
    torch = pytest.importorskip("torch")
    on_torch = tip_candidates(torch.from_numpy(logits), floor=0.05)
    np.testing.assert_allclose(np.array(on_torch), np.array(got), atol=1e-5)
    with pytest.raises(ValueError, match="floor"):
        tip_candidates(logits, floor=1.5)
    with pytest.raises(ValueError, match="logit map"):
        tip_candidates(logits[None])


class TwoSpotBackend(SpotBackend):
    """Tip logits of two blobs given in frame px: a fading tip and a stronger decoy."""

    def __init__(self, frame_shape: tuple[int, int]) -> None:
        super().__init__()
        self.frame_shape = frame_shape
        self.spots: list[tuple[float, float, float]] = []
        self.boxes: list[tuple[int, int, int]] = []

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        x0, y0, side = self.boxes[-1]
        s = side / SIDE
        local = [
            ((sx - x0 + 0.5) / s - 0.5, (sy - y0 + 0.5) / s - 0.5, p) for sx, sy, p in self.spots
        ]
        out = np.zeros((1, 3, SIDE, SIDE), np.float32)
        out[0, 2] = _logits(local, (SIDE, SIDE))
        return out


def test_a_stronger_peak_outside_the_gate_does_not_take_the_track() -> None:
    backend = TwoSpotBackend((512, 512))
    tracker = RoiTipTracker(backend)
    detect = tracker._detect

    def spy(image: np.ndarray, box: tuple[int, int, int]) -> list[tuple[float, float, float]]:
        backend.boxes.append(box)
        return detect(image, box)

    tracker._detect = spy  # type: ignore[method-assign]
    frame = np.zeros((512, 512), np.uint8)
    for k in range(12):
        backend.spots = [(200.0 + k, 220.0, 0.9)]
        tracker.step(frame, k / 15.0)
    # the tip fades to 0.6 and a decoy of 0.95 appears 45 px away, inside the ROI crop
    for k in range(12, 24):
        backend.spots = [(200.0 + k, 220.0, 0.6), (200.0 + k, 265.0, 0.95)]
        est = tracker.step(frame, k / 15.0)
        assert est.mode == "roi" and abs(est.peak - 0.6) < 0.02
        assert math.hypot(est.x_px - (200.0 + k), est.y_px - 220.0) < 1.0


def test_search_then_roi_follows_a_moving_spot_exactly() -> None:
    backend = SpotBackend()
    tracker = RoiTipTracker(backend)
    modes, errors = [], []
    for k in range(40):
        truth = (120.0 + 3.3 * k, 400.0 - 1.7 * k)
        est = tracker.step(spot_frame((512, 640), truth, 2.5), k / 15.0)
        modes.append(est.mode)
        errors.append(math.hypot(est.x_px - truth[0], est.y_px - truth[1]))
        if est.mode == "roi":
            assert est.model_runs == 1
    assert modes[0] == "search" and modes[-1] == "roi" and modes.count("roi") >= 30
    # the first search: one shrunk pass (640 px letterboxed to 128) and one native refine pass
    assert backend.calls[:2] == [(1, 1, SIDE, SIDE)] * 2
    assert np.median(errors[10:]) < 0.3 and max(errors[10:]) < 1.0
    assert tracker.tracker.confidence > 0.9


def test_lost_spot_falls_back_to_search_and_reacquires() -> None:
    tracker = RoiTipTracker(SpotBackend())
    for k in range(10):
        tracker.step(spot_frame((512, 512), (160.0, 180.0), 2.5), k / 15.0)
    gone = [tracker.step(spot_frame((512, 512), None, 2.5), (10 + k) / 15.0) for k in range(15)]
    assert all(e.peak < 0.3 for e in gone)
    assert gone[-1].mode == "none" and gone[-1].confidence < 0.5
    back = [
        tracker.step(spot_frame((512, 512), (400.0, 80.0), 2.5), (25 + k) / 15.0) for k in range(8)
    ]
    assert back[-1].mode == "roi"
    assert math.hypot(back[-1].x_px - 400.0, back[-1].y_px - 80.0) < 1.0


def test_refuses_models_without_a_tip_and_frames_too_small() -> None:
    backend = SpotBackend()
    with pytest.raises(ValueError, match="of at least 128 px"):
        RoiTipTracker(backend).step(np.zeros((100, 300), np.uint8), 0.0)
    object.__setattr__(backend.model, "tip_channel", None)
    with pytest.raises(ValueError, match="no tip heatmap"):
        RoiTipTracker(backend)
