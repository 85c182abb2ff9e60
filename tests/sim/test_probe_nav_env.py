"""``orstream/ProbeNav-v0`` and ``-v1``: gymnasium's checker, seeding, the held-out phantoms,
success at the target view, the per-step caps and the workspace limits; v1's target and history."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from orstream.sim import (  # noqa: E402
    HELD_OUT_PHANTOM_SEED,
    PROBE_DWELL,
    PROBE_ENV_IDS,
    PROBE_HISTORY,
    PROBE_LIMITS,
    PROBE_OBS_SIZE,
    PROBE_START_RANGE,
    PROBE_STEP_CAPS,
    PROBE_SUCCESS_DEG,
    PROBE_SUCCESS_MM,
    make_nav_env,
    probe_obs_size,
    probe_view_quality,
)

ENV_ID = PROBE_ENV_IDS[0]
N_DOF = len(PROBE_STEP_CAPS)


@pytest.mark.parametrize("env_id", PROBE_ENV_IDS)
def test_probe_env_is_registered_and_passes_check_env(env_id: str) -> None:
    assert env_id in gym.registry
    env = make_nav_env(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (probe_obs_size(env_id),) and obs.dtype == np.float32
    assert set(info) >= {"pose_error_mm", "pose_error_deg", "view_quality", "success"}
    assert probe_obs_size(ENV_ID) == PROBE_OBS_SIZE


def test_v1_observes_its_last_frames_and_the_motions_between_them() -> None:
    env = make_nav_env(PROBE_ENV_IDS[1])
    one_frame = make_nav_env(ENV_ID, target="right-atrium")  # the same task, one frame seen
    n, k = PROBE_OBS_SIZE, PROBE_HISTORY
    obs, _ = env.reset(seed=3)
    first, _ = one_frame.reset(seed=3)
    frames = obs[: n * k].reshape(k, n)
    assert np.array_equal(frames[0], first) and np.all(frames == first)  # the start, repeated
    assert np.all(obs[n * k :] == 0.0)  # no motion yet
    rng = np.random.default_rng(0)
    seen = [first]
    for t in range(k + 1):
        action = rng.uniform(-1.5, 1.5, N_DOF).astype(np.float32)
        obs, *_ = env.step(action)
        seen.insert(0, one_frame.step(action)[0])
        frames = obs[: n * k].reshape(k, n)
        for j in range(min(t + 2, k)):  # newest first
            assert np.array_equal(frames[j], seen[j])
        assert np.array_equal(obs[n * k : n * k + N_DOF], np.clip(action, -1.0, 1.0))


def test_v1_succeeds_only_when_the_probe_stays_at_the_view() -> None:
    env = make_nav_env(PROBE_ENV_IDS[1])
    still, away = np.zeros(N_DOF, np.float32), np.r_[0.0, 0.0, 0.0, 0.0, 1.0].astype(np.float32)
    env.reset(seed=3, options={"offset": np.zeros(N_DOF)})
    for _ in range(PROBE_DWELL - 1):  # at the view, not yet long enough
        _, _, term, _, info = env.step(still)
        assert info["at_view"] and not term and not info["success"]
    _, reward, term, _, info = env.step(still)
    assert term and info["success"] and reward > 4.0
    env.reset(seed=3, options={"offset": np.zeros(N_DOF)})
    env.step(still)
    for _ in range(2):  # rotating 6 deg off leaves the view: the count starts again
        _, _, term, _, info = env.step(away)
    assert not info["at_view"] and not term
    for _ in range(2):
        _, _, term, _, info = env.step(-away)
    assert info["at_view"] and not term  # back at the view for one step only


def test_v1_target_view_cuts_through_the_right_atrium() -> None:
    textbook = make_nav_env(ENV_ID).unwrapped
    atrium = make_nav_env(PROBE_ENV_IDS[1]).unwrapped
    for seed in range(4):
        textbook.reset(seed=seed)
        atrium.reset(seed=seed)
        ra_deg = atrium.view.anatomy.ra_angle
        assert atrium.view.phantom_id == textbook.view.phantom_id
        assert atrium.view.roll_deg == ra_deg and textbook.view.roll_deg == 0.0
        # the v1 target is the textbook view rotated about the LV axis by the atrium's angle
        start = {"offset": [0.0, 0.0, 0.0, 0.0, ra_deg], "phantom": textbook.view.phantom_id}
        _, info = textbook.reset(options=start)
        assert info["pose_error_deg"] == pytest.approx(abs(ra_deg), abs=0.5)
        target = atrium.view.target
        assert np.allclose(textbook.view.pose(np.r_[0.0, 0.0, 0.0, 0.0, ra_deg]).axis, target.axis)
    with pytest.raises(ValueError, match="unknown target"):
        make_nav_env(ENV_ID, target="left-atrium").reset(seed=0)


def _rollout(env: gym.Env, seed: int, steps: int = 8) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    rng, out = np.random.default_rng(seed), [obs]
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-1, 1, N_DOF).astype(np.float32))
        out.append(obs)
    return out


def test_same_seed_same_episode_and_seeds_vary_phantom_and_start() -> None:
    env = make_nav_env(ENV_ID)
    a, b = _rollout(env, 4), _rollout(env, 4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    infos = [env.reset(seed=s)[1] for s in range(6)]
    assert len({i["phantom"] for i in infos}) == 6
    assert len({tuple(i["offset"]) for i in infos}) == 6
    for i in infos:  # the start is within the stated range and not already a success
        assert np.all(np.abs(i["offset"]) <= np.array(PROBE_START_RANGE) + 1e-3)
        assert not i["success"]


def test_held_out_phantoms_are_disjoint_from_training() -> None:
    train, held = make_nav_env(ENV_ID), make_nav_env(ENV_ID, held_out=True)
    tr = {train.reset(seed=s)[1]["phantom"] for s in range(20)}
    ho = {held.reset(seed=s)[1]["phantom"] for s in range(20)}
    assert max(tr) < HELD_OUT_PHANTOM_SEED <= min(ho)
    with pytest.raises(ValueError, match="training phantoms"):
        train.reset(seed=0, options={"phantom": HELD_OUT_PHANTOM_SEED + 3})


def test_at_the_target_view_the_episode_succeeds_and_off_it_quality_drops() -> None:
    env = make_nav_env(ENV_ID)
    obs, info = env.reset(seed=3, options={"offset": np.zeros(N_DOF)})
    assert info["pose_error_mm"] == pytest.approx(0.0, abs=1e-6)
    assert info["view_quality"] == pytest.approx(1.0)
    lv = obs[:6]  # the LV cavity is in view, roughly upright
    assert lv[0] == 1.0 and lv[1] > 0.05 and lv[4] > 0.8
    _, reward, term, trunc, info = env.step(np.zeros(N_DOF, np.float32))
    assert term and not trunc and info["success"] and reward > 4.0
    # one rotate step stays a success (3 deg); a 12 mm slide does not
    _, info = env.reset(seed=3, options={"offset": [0.0, 0.0, 0.0, 0.0, 3.0]})
    assert info["pose_error_deg"] <= PROBE_SUCCESS_DEG and info["at_view"]
    _, info = env.reset(seed=3, options={"offset": [12.0, 0.0, 0.0, 0.0, 0.0]})
    assert info["pose_error_mm"] > PROBE_SUCCESS_MM and not info["at_view"]
    assert info["view_quality"] == pytest.approx(
        probe_view_quality(info["pose_error_mm"], info["pose_error_deg"])
    )
    assert info["view_quality"] < 1.0


def test_moving_toward_the_target_is_rewarded_and_away_is_penalized() -> None:
    env = make_nav_env(ENV_ID)
    env.reset(seed=5, options={"offset": [10.0, 0.0, 0.0, 0.0, 0.0]})
    _, toward, *_ = env.step(np.array([-1, 0, 0, 0, 0], np.float32))
    _, away, *_ = env.step(np.array([1, 0, 0, 0, 0], np.float32))
    assert toward > 0.0 > away


def test_actions_are_capped_per_step_and_the_workspace_is_limited() -> None:
    env = make_nav_env(ENV_ID)
    env.reset(seed=1, options={"offset": np.zeros(N_DOF)})
    _, _, _, _, info = env.step(np.full(N_DOF, 5.0, np.float32))  # beyond [-1, 1]: clipped
    assert np.allclose(info["offset"], PROBE_STEP_CAPS, atol=1e-3)
    for _ in range(20):
        _, _, term, _, info = env.step(np.ones(N_DOF, np.float32))
    assert np.allclose(info["offset"], PROBE_LIMITS, atol=1e-3)
    assert not term


def test_the_step_limit_truncates() -> None:
    env = make_nav_env(ENV_ID, max_steps=3)
    env.reset(seed=2)
    ends = [env.step(np.zeros(N_DOF, np.float32))[2:4] for _ in range(3)]
    assert ends[-1] == (False, True) and ends[0] == (False, False)
