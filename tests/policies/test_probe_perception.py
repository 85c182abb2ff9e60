"""ProbeNav with perception in the loop: rendered B-mode frames of the phantom, segmented by
echo-lv, give chamber features close to the label map's (LV) and noisier for the round
chambers; the evaluation runs with them; ``MaskNoise`` for training."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from orstream.policies import ProbePerception, evaluate_probe_policy
from orstream.sim import (
    PROBE_ENV_IDS,
    PROBE_OBS_LAYOUT,
    EchoSimulator,
    MaskNoise,
    ProbeView,
    make_nav_env,
)

ENV_ID = PROBE_ENV_IDS[-1]  # ProbeNav-v1
LV = [PROBE_OBS_LAYOUT.index(f"lv_{f}") for f in ("present", "area", "cx", "cy")]


def _env(view: ProbeView, offset: np.ndarray, steps: int = 0, seed: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        view=view, offset=offset, steps=steps, np_random=np.random.default_rng(seed)
    )


@pytest.fixture(scope="module")
def view() -> ProbeView:
    return ProbeView(7, target="right-atrium")


def test_echo_simulator_images_the_phantom_it_is_given(view: ProbeView) -> None:
    sim = EchoSimulator(3, phantom=view.phantom, pose=view.target, size=(96, 96))
    assert sim.phantom is view.phantom
    assert sim.ef == view.phantom.cycle.ef and sim.hr_bpm == view.phantom.cycle.hr_bpm
    own = EchoSimulator(3, pose=view.target, size=(96, 96))
    assert own.settings == sim.settings  # the seed still draws the same scanner
    assert not np.array_equal(own.render(0).labels, sim.render(0).labels)


def test_segmented_frames_give_the_label_maps_lv_features(view: ProbeView) -> None:
    perceive = ProbePerception()
    for offset in (np.zeros(5), np.array([4.0, -3.0, 0.0, 2.0, 8.0])):
        truth = view.features(view.labels(view.pose(offset)))
        seen = perceive(_env(view, offset))
        assert seen.shape == truth.shape and seen.dtype == np.float32
        np.testing.assert_allclose(seen[LV], truth[LV], atol=0.05)
    assert perceive.frames == 2


def test_on_grid_maps_a_frame_back_onto_the_view(view: ProbeView) -> None:
    frame, geometry = view.bmode(view.target, seed=1, t_s=0.0)
    labels = view.labels(view.target)
    on_grid = view.on_grid(frame.labels, geometry)  # the renderer's own truth, resampled
    assert on_grid.shape == labels.shape and not on_grid[~view.sector].any()
    both = (on_grid == 1) | (labels == 1)
    assert ((on_grid == 1) & (labels == 1)).sum() / both.sum() > 0.9  # same LV, same place


def test_bmode_at_a_second_pose_is_the_frame_a_new_simulator_renders(view: ProbeView) -> None:
    pose = view.pose(np.array([3.0, 2.0, -1.0, 4.0, -6.0]))
    view.bmode(view.target, seed=2, t_s=0.0, size=64)  # builds the scanner at the target
    frame, geom = view.bmode(pose, seed=2, t_s=0.4, size=64)  # re-aims it
    sector = {"depth_mm": geom.depth_mm, "sector_deg": geom.angle_deg}
    fresh = EchoSimulator(2, pose=pose, phantom=view.phantom, size=(64, 64), settings=sector)
    want = fresh.render(round(0.4 * fresh.fps))
    assert np.array_equal(frame.image, want.image) and np.array_equal(frame.labels, want.labels)


def test_perception_rejects_a_model_without_the_chambers() -> None:
    with pytest.raises(ValueError, match="needs lv_cavity, lv_myocardium, rv, la, ra"):
        ProbePerception("us-needle")


def test_evaluation_with_perception_counts_its_frames() -> None:
    report = evaluate_probe_policy(ENV_ID, ["scripted"], episodes=1, held_out=True, perception=True)
    assert report["perception"] is True
    assert report["perception_frames"] >= 1
    assert 0.0 <= report["success_rate"]["mean"] <= 1.0


def test_mask_noise_is_seeded_and_blurs_the_round_chambers(view: ProbeView) -> None:
    offset = np.zeros(5)
    truth = view.features(view.labels(view.pose(offset)))
    noise = MaskNoise()
    a, b = noise(_env(view, offset, seed=4)), noise(_env(view, offset, seed=4))
    np.testing.assert_array_equal(a, b)
    draws = np.array([noise(_env(view, offset, seed=s)) for s in range(20)])
    assert np.abs(draws - truth).max() > 0.1
    np.testing.assert_allclose(draws[:, LV].mean(axis=0), truth[LV], atol=0.03)
    blind = MaskNoise(shift_px=0.0, miss=1.0)(_env(view, offset))
    for chamber in ("rv", "la", "ra"):
        assert blind[PROBE_OBS_LAYOUT.index(f"{chamber}_present")] == 0.0
    with pytest.raises(ValueError, match="miss in"):
        MaskNoise(miss=2.0)


def test_an_environment_takes_its_features_from_the_observer() -> None:
    env = make_nav_env(ENV_ID, held_out=True, observer=MaskNoise())
    obs, _ = env.reset(seed=3)
    plain = make_nav_env(ENV_ID, held_out=True)
    obs_plain, _ = plain.reset(seed=3)
    assert obs.shape == obs_plain.shape and not np.array_equal(obs, obs_plain)
