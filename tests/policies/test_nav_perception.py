"""Perception in the loop: the catheter of an episode rendered as fluoroscopy and tracked by
the shipped fluoro-catheter model lands near the true tip, and feeds the observation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from orstream.kernels import TipEstimate
from orstream.policies import PerceivedTip, ScriptedNavPolicy, evaluate_nav, run_nav_episode
from orstream.sim import (
    CONTROL_HZ,
    NAV_OBS_LAYOUT,
    NavFluoroRenderer,
    NavTree,
    load_centerline_tree,
    make_nav_env,
)
from tests._helpers import y_tree_file

CONF = NAV_OBS_LAYOUT.index("confidence")


def _episode(seed: int) -> tuple[NavTree, int]:
    env = make_nav_env("orstream/CatheterNav-v0", held_out=True)
    env.reset(seed=seed)
    return env.unwrapped.nav, env.unwrapped.target  # type: ignore[attr-defined]


def test_renderer_maps_mm_and_px_both_ways() -> None:
    nav, _ = _episode(1002)
    r = NavFluoroRenderer(nav, size=256, centre_mm=np.array([50.0, 60.0]))
    mm = np.array([[10.0, 20.0], [50.0, 60.0]])
    np.testing.assert_allclose(r.to_mm(r.to_px(mm)), mm)
    np.testing.assert_allclose(r.to_px(mm[1:]), [[128.0, 128.0]])  # the view's centre


@pytest.mark.parametrize("seed", [1000, 1001, 1002, 1003])  # hepatic, real, coronary, arch
def test_the_catheter_lies_in_the_episodes_own_vessels(seed: int) -> None:
    nav, target = _episode(seed)
    route = nav.pos[nav.path_to(target)]
    r = NavFluoroRenderer(nav, size=512, centre_mm=0.5 * (route.min(0) + route.max(0)))
    away = np.array([[-40.0, -40.0], [-60.0, -60.0]])  # the catheter out of the frame
    r.sim.set_catheter(away)
    frame = r.sim.render(0)
    labels, breathing = frame.labels, np.asarray(frame.truth["tip_px"]) - away[0]
    px = np.rint(r.to_px(route) + breathing).astype(int)
    inside = np.hypot(*(px - r.half).T) < r.field_px - 8  # away from the collimator's edge
    assert inside.sum() >= 5
    # every route node in the field is lumen: the tree drawn is the episode's variant, not the
    # simulator's nominal tree of the same kind
    hit = labels[px[inside, 1], px[inside, 0]]
    assert np.all(hit == 2), f"{np.count_nonzero(hit != 2)} of {hit.size} route nodes off the tree"


def test_a_tree_from_a_file_is_rendered_about_its_own_centre(tmp_path: Path) -> None:
    nav = load_centerline_tree(y_tree_file(tmp_path / "y.txt"))
    r = NavFluoroRenderer(nav, size=256)
    image, tip_px = r.render(nav.pos[[5, 4, 3, 2, 1, 0]], 0)
    assert image.shape == (256, 256)
    assert np.hypot(*(tip_px - r.half)) < r.field_px  # the whole small tree is in view


def test_tracked_tip_feeds_the_observation_and_lands_near_the_truth() -> None:
    observer = PerceivedTip()
    env = make_nav_env("orstream/CatheterNav-v0", held_out=True, observer=observer)
    policy = ScriptedNavPolicy()
    obs, _ = env.reset(seed=11)
    confidences = [float(obs[CONF])]
    for _ in range(60):  # until the tip has been in the collimated field for a few frames
        obs, _, term, trunc, _ = env.step(policy.act(obs))
        confidences.append(float(obs[CONF]))
        if len(observer.errors_mm) >= 5 or term or trunc:
            break
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert any(c < 1.0 for c in confidences)  # not the ground truth's constant 1
    assert observer.errors_mm, "the tracker never held the tip"
    assert float(np.median(observer.errors_mm)) < 3.0


def test_evaluation_with_perception_reports_tracking_error() -> None:
    observer = PerceivedTip()
    report = evaluate_nav(
        lambda: make_nav_env("orstream/CatheterNav-v0", held_out=True, observer=observer),
        [ScriptedNavPolicy()],
        episodes=1,
        seed=21,
    )
    assert report["episodes"] == 1 and len(observer.errors_mm) > 0


class _RecordingRender(PerceivedTip):
    last_render: tuple[object, np.ndarray]

    def _view(self, env: object, tip_mm: tuple[float, float]) -> NavFluoroRenderer:
        renderer = super()._view(env, tip_mm)
        render = renderer.render

        def remember(pts: np.ndarray, index: int) -> tuple[object, np.ndarray]:
            self.last_render = render(pts, index)
            return self.last_render

        renderer.render = remember  # type: ignore[method-assign,assignment]
        return renderer


class _ShiftedTracker:
    """Stands in for the ROI tracker: confident, always ``shift_px`` right of the rendered
    tip."""

    def __init__(self, observer: _RecordingRender, shift_px: float) -> None:
        self.observer, self.shift_px = observer, shift_px

    def reset(self) -> None:
        return None

    def step(self, image: object, t_s: float) -> TipEstimate:
        _, truth = self.observer.last_render
        return TipEstimate(True, truth[0] + self.shift_px, truth[1], 0.9, 0.9, "roi", 1, 0.9, 1.0)


def _with_shifted_peaks(shift_px: float, jump_mm: float | None = 10.0) -> _RecordingRender:
    observer = _RecordingRender(size=256, jump_mm=jump_mm)
    observer.tracker = _ShiftedTracker(observer, shift_px)  # type: ignore[assignment]
    return observer


def test_an_exact_tracker_keeps_the_place_by_dead_reckoning_alone() -> None:
    observer = _with_shifted_peaks(0.0)
    env = make_nav_env("orstream/CatheterNav-v0", held_out=True, observer=observer)
    episode = run_nav_episode(env, ScriptedNavPolicy(), seed=11)
    # the robot's motion moves the kept place exactly as it moves the tip: never relocated
    assert episode.reason == "success"
    assert observer.relocations == 0 and observer.holds == 0 and len(observer.errors_mm) > 20


def test_a_tip_far_from_the_kept_place_is_refused_and_the_step_holds_still() -> None:
    runs = {}
    for jump_mm in (10.0, None):
        observer = _with_shifted_peaks(40.0, jump_mm)
        env = make_nav_env("orstream/CatheterNav-v0", held_out=True, observer=observer)
        runs[jump_mm] = (run_nav_episode(env, ScriptedNavPolicy(), seed=11), observer)
    (refused, checked), (accepted, unchecked) = runs[10.0], runs[None]
    # 40 px at 256 px is far beyond 10 mm: tips seen in the field are refused and the
    # catheter holds still; only a steady run of 15 of them (1 s) moves the place
    assert checked.holds >= 15 and unchecked.holds == 0
    assert checked.relocations < unchecked.relocations
    # unchecked, the wrong tip sets the place on the roadmap every step and the catheter
    # wanders; neither run reaches the target
    assert refused.reason == accepted.reason == "step_limit"
    assert refused.path_length_mm < accepted.path_length_mm


def test_the_view_follows_a_tip_that_nears_the_fields_edge() -> None:
    # a held-out coronary route longer than the 256 px field: the view pans onto the tip, the
    # tracker starts afresh and keeps finding it
    observer = PerceivedTip(size=256)
    env = make_nav_env("orstream/CatheterNav-v0", held_out=True, observer=observer)
    episode = run_nav_episode(env, ScriptedNavPolicy(), seed=1002)
    assert observer.pans >= 1
    assert episode.reason == "success"
    steps = round(episode.episode_time_s * CONTROL_HZ)
    assert len(observer.errors_mm) > 0.5 * steps  # tracked on most steps
    assert float(np.median(observer.errors_mm)) < 3.0
