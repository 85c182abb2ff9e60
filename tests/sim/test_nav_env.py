"""``orstream/CatheterNav-v0``: every registered ``orstream/`` id passes gymnasium's checker;
seeding, the held-out split, the kinematics, and the centerline-tree file loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from orstream.sim import (  # noqa: E402
    HELD_OUT_TREE_SEED,
    MAX_FORCE_N,
    NAV_ENV_IDS,
    NAV_OBS_LAYOUT,
    NAV_OBS_SIZE,
    SAFE_FORCE_N,
    STEP_MM,
    SUCCESS_MM,
    TrackerNoise,
    load_centerline_tree,
    make_nav_env,
)
from tests._helpers import y_tree_file  # noqa: E402


def _registered() -> list[str]:
    return sorted(k for k in gym.registry if k.startswith("orstream/"))


def test_every_nav_id_is_registered() -> None:
    assert set(NAV_ENV_IDS) <= set(_registered())


@pytest.mark.parametrize("env_id", _registered())
def test_registered_env_passes_gymnasium_check_env(env_id: str) -> None:
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    size = NAV_OBS_SIZE if env_id in NAV_ENV_IDS else env.observation_space.shape[0]
    assert obs.shape == (size,) and obs.dtype == np.float32


def _rollout(env: gym.Env, seed: int, steps: int = 30) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    rng, out = np.random.default_rng(seed), [obs]
    for _ in range(steps):
        obs, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        out.append(obs)
        if term or trunc:
            break
    return out


def test_same_seed_same_episode_and_seeds_vary_the_anatomy() -> None:
    env = make_nav_env("orstream/CatheterNav-v0")
    a, b = _rollout(env, 5), _rollout(env, 5)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    starts = {tuple(np.round(env.reset(seed=s)[0][:2], 4)) for s in range(8)}
    assert len(starts) >= 6  # targets differ from seed to seed
    names = {env.reset(seed=s)[1]["anatomy"] for s in range(30)}
    assert {"hepatic", "arch", "coronary"} <= names


def test_held_out_anatomies_never_appear_in_training() -> None:
    train = make_nav_env("orstream/CatheterNav-v0").unwrapped
    held = make_nav_env("orstream/CatheterNav-v0", held_out=True).unwrapped

    def shapes(env: gym.Env) -> set[tuple[str, int, float]]:
        out = set()
        for s in range(12):
            env.reset(seed=s)
            nav = env.nav
            out.add((nav.name, env.target, round(float(nav.pos[nav.order[-1], 0]), 3)))
        return out

    assert not shapes(train) & shapes(held)
    assert HELD_OUT_TREE_SEED > 0


def test_advancing_along_the_route_reaches_the_target_and_info_is_complete() -> None:
    env = make_nav_env("orstream/CatheterNav-v0").unwrapped
    _, info = env.reset(seed=1)
    assert set(info) >= {"tip_mm", "target_mm", "force_n", "path_length_mm"}
    nav = env.nav
    start = nav.tip_arc(env.tip)
    ahead = nav.arc_mm[env.target] - start
    env.roll = 0.0  # a straight tip: follows the first-choice children at forks
    total = 0.0
    while total < ahead - 1.0:
        move = min(STEP_MM, ahead - 1.0 - total)
        env.step(np.array([move / STEP_MM, 0.0], np.float32))
        total += move
    _, _, term, _, info = env.step(np.array([0.0, 0.0], np.float32))
    on_route = env.on_route[env.tip.node]
    assert info["path_length_mm"] == pytest.approx(total, abs=1e-6)
    if on_route:  # the straight tip stayed on the target's route: it arrived
        assert term and info["success"] and info["error_mm"] <= SUCCESS_MM
    else:  # it took another branch: the distance along the tree says so
        assert info["error_mm"] > SUCCESS_MM


def test_pulling_out_past_the_entry_ends_the_episode() -> None:
    env = make_nav_env("orstream/CatheterNav-v0")
    env.reset(seed=2)
    for _ in range(20):
        _, reward, term, _, info = env.step(np.array([-1.0, 0.0], np.float32))
        if term:
            break
    assert term and info["reason"] == "left_tree" and reward < -4


def test_a_bent_tip_pushed_hard_in_a_straight_lumen_is_excessive_force() -> None:
    env = make_nav_env("orstream/CatheterNav-v0").unwrapped
    env.reset(seed=3)
    env.roll = np.pi / 2  # the full bend against a straight-ish vessel
    forces = []
    for _ in range(40):
        _, _, term, _, info = env.step(np.array([1.0, 0.0], np.float32))
        forces.append(info["force_n"])
        if term:
            break
    assert max(forces) > 0.0
    assert info["reason"] in ("force", "success") or max(forces) <= MAX_FORCE_N


def test_safety_penalty_is_taken_off_exactly_the_unsafe_steps() -> None:
    plain = make_nav_env("orstream/CatheterNav-v0").unwrapped
    shaped = make_nav_env("orstream/CatheterNav-v0", safety_penalty=0.7).unwrapped
    unsafe = 0
    for env in (plain, shaped):
        env.reset(seed=3)
        env.roll = np.pi / 2
    for _ in range(40):
        act = np.array([1.0, 0.0], np.float32)
        _, r0, term, _, info = plain.step(act)
        _, r1, _, _, _ = shaped.step(act)
        hit = info["force_n"] >= SAFE_FORCE_N
        unsafe += hit
        assert r1 == pytest.approx(r0 - (0.7 if hit else 0.0))
        if term:
            break
    assert unsafe > 0
    with pytest.raises(ValueError, match="safety_penalty"):
        make_nav_env("orstream/CatheterNav-v0", safety_penalty=-1.0)


def _write_tree(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_centerline_tree_file_loads_and_drives_the_env(tmp_path: Path) -> None:
    nav = load_centerline_tree(y_tree_file(tmp_path / "y.txt"))
    assert len(nav.order) == 8 and nav.kids[3] and len(nav.kids[3]) == 2
    env = make_nav_env("orstream/CatheterNav-v0", tree=nav)
    check_env(env.unwrapped, skip_render_check=True)
    _, info = env.reset(seed=0)
    assert info["anatomy"] == "y"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "node count"),
        ("3\n0\n0;0;0;0;0;0;1;\n1;\n", "expected 3 nodes"),
        ("2\n0\n0;0;x;0;0;0;1;\n1;\n0;1;0;0;0;0;1;\n0;\n", "non-number"),
        ("2\n0\n0;0;0;\n1;\n0;1;0;\n0;\n", "7 numbers"),
        ("2\n0\n0;0;0;0;0;0;1;\n5;\n0;1;0;0;0;0;1;\n0;\n", "out of range"),
        ("3\n0\n0;0;0;0;0;0;1;\n1;\n0;1;0;0;0;0;1;\n0;\n0;2;0;0;0;0;1;\n;\n", "one tree"),
        ("2\n0\n0;0;0;0;0;0;-1;\n1;\n0;1;0;0;0;0;1;\n0;\n", "radii positive"),
    ],
)
def test_malformed_tree_file_gets_one_clear_error(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle) as err:
        load_centerline_tree(_write_tree(tmp_path / "bad.txt", text))
    assert "\n" not in str(err.value)


def test_missing_tree_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_centerline_tree(tmp_path / "none.txt")


def test_tracker_noise_gives_a_seeded_tracked_tip_and_a_confidence_a_gate_lets_act() -> None:
    conf = NAV_OBS_LAYOUT.index("confidence")

    def run(seed: int) -> tuple[list[float], list[float]]:
        env = make_nav_env("orstream/CatheterNav-v0", observer=TrackerNoise())
        obs, _ = env.reset(seed=seed)
        confidences, dx = [float(obs[conf])], []
        for _ in range(20):
            obs, *_ = env.step(np.array([1.0, 0.0], np.float32))
            confidences.append(float(obs[conf]))
            u = env.unwrapped  # type: ignore[attr-defined]
            dx.append(float(obs[0]) * 100.0 - (u.nav.x[u.target] - u.nav.tip_xy(u.tip)[0]))
        return confidences, dx

    confidences, dx = run(3)
    assert all(0.5 <= c <= 1.0 for c in confidences) and np.std(confidences) > 0.05
    # the target direction is read from the seen tip: off the true one by the tracker's error
    assert 0.1 < float(np.std(dx)) < 2.0
    assert run(3) == (confidences, dx)  # the environment's seed fixes the noise
