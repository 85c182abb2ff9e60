"""Tip tracking: constant-velocity Kalman filter, outlier gate, loss and recovery, ROI logic."""

from __future__ import annotations

import numpy as np
import pytest

from orstream.kernels import TipTracker, TrackerConfig, crop

DT = 1.0 / 30.0


def _truth(k: int) -> np.ndarray:
    """A tip moving at about (120, -60) px/s with a gentle curve, on a 1024 x 1024 frame."""
    t = k * DT
    return np.array([300.0 + 120.0 * t + 20.0 * np.sin(1.5 * t), 600.0 - 60.0 * t])


def _follow(tr: TipTracker, frames: int) -> None:
    """Feed ``tr`` the exact truth of frames 0 .. ``frames`` - 1 at confidence 1."""
    for k in range(frames):
        tr.predict(DT)
        tr.update(tuple(_truth(k)), 1.0)


def test_tracks_a_noisy_moving_tip() -> None:
    rng = np.random.default_rng(1)
    tr = TipTracker()
    filt, raw, vel = [], [], []
    for k in range(120):
        tr.predict(DT)
        z = _truth(k) + rng.normal(0.0, 2.0, 2)
        assert tr.update((float(z[0]), float(z[1])), 0.9) in ("initialized", "accepted")
        if k >= 20:
            filt.append(np.linalg.norm(np.array(tr.xy) - _truth(k)))
            raw.append(np.linalg.norm(z - _truth(k)))
            vel.append(tr.velocity)
    assert np.mean(filt) < 0.9 * np.mean(raw) and np.mean(filt) < 2.5
    # the default tuning is agile (cardiac motion), so the velocity is right on average
    true_v = (_truth(119) - _truth(20)) / (99 * DT)
    assert np.linalg.norm(np.mean(vel, axis=0) - true_v) < 15.0
    assert tr.confidence > 0.9 and tr.n_rejected == 0


def test_rejects_an_outlier_and_ignores_weak_detections() -> None:
    tr = TipTracker()
    _follow(tr, 30)
    tr.predict(DT)
    before = np.array(tr.xy)
    jump = _truth(30) + np.array([80.0, -50.0])
    assert tr.update((float(jump[0]), float(jump[1])), 1.0) == "rejected"
    assert np.allclose(tr.xy, before) and tr.n_rejected == 1
    assert tr.update((0.0, 0.0), 0.05) == "ignored"
    tr.predict(DT)
    assert tr.update(tuple(_truth(31)), 1.0) == "accepted"
    assert np.linalg.norm(np.array(tr.xy) - _truth(31)) < 1.0


def test_low_confidence_detections_count_less() -> None:
    a, b = TipTracker(), TipTracker()
    for tr in (a, b):
        tr.update((100.0, 100.0), 1.0)
        tr.predict(DT)
    a.update((103.0, 100.0), 1.0)
    b.update((103.0, 100.0), 0.3)
    assert a.xy is not None and b.xy is not None
    assert a.xy[0] - 100.0 > b.xy[0] - 100.0 > 0.0


def test_a_detection_near_the_gate_counts_less_and_kicks_the_velocity_less() -> None:
    """The soft gate (Huber weight): a detection on a neighbouring structure, still inside the
    gate, moves the track and its velocity less than a plain Kalman update would."""
    huber, plain = TipTracker(), TipTracker(TrackerConfig(soft_gate=13.8))
    for tr in (huber, plain):
        _follow(tr, 30)
        tr.predict(DT)
    off = _truth(30) + np.array([14.0, 0.0])
    d2 = huber.gate_distance((float(off[0]), float(off[1])), 1.0)
    assert 4.0 < d2 < 13.8 and d2 == plain.gate_distance((float(off[0]), float(off[1])), 1.0)
    assert huber.update(tuple(off), 1.0) == plain.update(tuple(off), 1.0) == "accepted"
    assert huber.xy is not None and plain.xy is not None
    moved = (huber.xy[0] - _truth(30)[0], plain.xy[0] - _truth(30)[0])
    assert 0.0 < moved[0] < 0.8 * moved[1]
    assert abs(huber.velocity[0] - 120.0) < 0.8 * abs(plain.velocity[0] - 120.0)
    # a detection where it is expected is not down-weighted
    a, b = TipTracker(), TipTracker(TrackerConfig(soft_gate=13.8))
    for tr in (a, b):
        tr.update((100.0, 100.0), 1.0)
        tr.predict(DT)
        tr.update((100.5, 100.0), 1.0)
    assert a.xy == b.xy


def test_agreeing_outliers_restart_the_track() -> None:
    tr = TipTracker(TrackerConfig(reinit_after=3))
    for _ in range(20):
        tr.predict(DT)
        tr.update((500.0, 500.0), 1.0)
    results = []
    for _ in range(3):
        tr.predict(DT)
        results.append(tr.update((700.0, 300.0), 1.0))
    assert results == ["rejected", "rejected", "reinitialized"]
    assert tr.xy == (700.0, 300.0)


def test_confidence_decays_without_measurements_and_recovers() -> None:
    tr = TipTracker()
    _follow(tr, 30)
    assert tr.roi((1024, 1024), 256) is not None
    c0 = tr.confidence
    for _ in range(30):  # one second without detections
        tr.predict(DT)
    assert tr.confidence < 0.2 * c0
    assert tr.roi((1024, 1024), 256) is None  # lost: run on the whole frame
    far = _truth(60) + np.array([150.0, 90.0])  # re-found somewhere else
    assert tr.update((float(far[0]), float(far[1])), 0.9) in ("accepted", "reinitialized")
    for _ in range(61, 70):
        tr.predict(DT)
        tr.update((float(far[0]), float(far[1])), 0.9)
    assert tr.confidence > 0.8
    box = tr.roi((1024, 1024), 256)
    assert box is not None
    x0, y0, w, h = box
    assert x0 <= far[0] < x0 + w and y0 <= far[1] < y0 + h


def test_roi_window_logic() -> None:
    tr = TipTracker()
    assert tr.xy is None and tr.predict(DT) is None
    assert tr.roi((1024, 1024), 256) is None  # no track yet
    for _ in range(10):
        tr.predict(DT)
        tr.update((10.0, 1000.0), 1.0)
    box = tr.roi((1024, 1024), 256)
    assert box == (0, 1024 - 256, 256, 256)  # shifted inside the frame, same size
    frame = np.zeros((1024, 1024), np.uint16)
    assert crop(frame, box).shape == (256, 256)
    assert tr.roi((1024, 1024), (128, 192)) == (0, 1024 - 128, 192, 128)
    assert tr.roi((200, 200), 256) is None  # the window is not smaller than the frame
    for _ in range(10):
        tr.predict(DT)
        tr.update((512.0, 512.0), 1.0)  # settle back in the middle
    # a big position uncertainty does not fit a small window
    tr.predict(0.5)
    assert tr.roi((1024, 1024), 32) is None
    with pytest.raises(ValueError):
        tr.roi((1024, 1024), 0)


def test_bad_input_raises() -> None:
    tr = TipTracker()
    with pytest.raises(ValueError, match="dt_s"):
        tr.predict(-1.0)
    with pytest.raises(ValueError, match="finite"):
        tr.update((float("nan"), 1.0), 1.0)
    with pytest.raises(ValueError, match="confidence"):
        tr.update((1.0, 1.0), 1.5)
    with pytest.raises(ValueError, match="noise_px"):
        TrackerConfig(noise_px=0.0)
    with pytest.raises(ValueError, match="soft_gate"):
        TrackerConfig(soft_gate=20.0)
    assert tr.gate_distance((1.0, 1.0)) == float("inf")  # no track yet
    tr.update((5.0, 5.0), 1.0)
    tr.reset()
    assert not tr.initialized and tr.confidence == 0.0
