"""``orstream/ProbeNav-v0`` and ``-v1``: move an echo probe to the apical four-chamber view of a
phantom.

Actions (float32, 5, in [-1, 1]): the motions of ``PROBE_ACTION_LAYOUT``, each a fraction of its
cap per step (``PROBE_STEP_CAPS``: 2 mm, 3 deg); the probe stays within ``PROBE_LIMITS`` of the
target. The observation (float32, ``probe_obs_size``) is the chamber-mask features
(``PROBE_OBS_LAYOUT``) of the slice the probe images (the phantom's label map, as a perfect
segmentation would give), of the last ``history`` frames, newest first, then the ``history - 1``
actions between them, newest first (at a reset the start frame stands for the earlier ones and
the actions are 0). The target view's rotation is set by ``target`` (``PROBE_TARGETS``): v0 is
``textbook`` with one frame, v1 ``right-atrium`` with ``PROBE_HISTORY`` frames. Reward: 10 x the
gain in view quality per step (``view_quality``), -0.05 per step, +5 on success. An episode
ends on success (within ``PROBE_SUCCESS_MM`` and ``PROBE_SUCCESS_DEG`` of the target view for
``dwell`` consecutive steps: v0 1, v1 ``PROBE_DWELL``, so that v1's probe must stop at the view,
not pass through it) or is truncated at ``PROBE_MAX_STEPS``. Each reset draws a phantom (its
anatomy) and a start pose within ``PROBE_START_RANGE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from ._probe_nav_spec import (
    PROBE_LIMITS,
    PROBE_MAX_STEPS,
    PROBE_START_RANGE,
    PROBE_STEP_CAPS,
    PROBE_SUCCESS_DEG,
    PROBE_SUCCESS_MM,
    stacked_obs_size,
)
from ._probe_view import HELD_OUT_PHANTOM_SEED, ProbeView, pose_error, view_quality

F32 = npt.NDArray[np.float32]
_CAPS = np.array(PROBE_STEP_CAPS)
_LIMITS = np.array(PROBE_LIMITS)


class ProbeNavEnv(gym.Env[F32, F32]):
    """The echo-probe navigation task (see the module docstring).

    ``held_out``: evaluation-only phantoms (ids from ``HELD_OUT_PHANTOM_SEED``); ``size``: the
    label map's side, px; ``max_steps``: the step limit; ``target``, ``history`` and ``dwell``:
    see the module docstring; ``observer``: each frame's features from ``observer(env)``
    instead of the label map's (:class:`~._probe_obs_noise.MaskNoise` for training,
    ``orstream.policies.ProbePerception`` for segmented B-mode frames). ``reset(options=)``
    may fix ``"phantom"`` (an id) and ``"offset"`` (5, the start pose in
    ``PROBE_ACTION_LAYOUT`` order).
    """

    metadata: dict[str, Any] = {"render_modes": [], "render_fps": 10}  # noqa: RUF012

    def __init__(
        self,
        held_out: bool = False,
        size: int = 96,
        max_steps: int = PROBE_MAX_STEPS,
        *,
        target: str = "textbook",
        history: int = 1,
        dwell: int = 1,
        observer: Callable[[ProbeNavEnv], F32] | None = None,
    ) -> None:
        if history < 1 or dwell < 1:
            raise ValueError(f"history and dwell must be at least 1; got {history}, {dwell}")
        self.held_out, self.size, self.max_steps = held_out, int(size), int(max_steps)
        self.target, self.history, self.dwell = target, int(history), int(dwell)
        self.inside = 0  # consecutive steps within the success tolerance
        n_obs = stacked_obs_size(self.history)
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (n_obs,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (len(PROBE_STEP_CAPS),), np.float32)
        self.view: ProbeView | None = None
        self.offset = np.zeros(len(PROBE_STEP_CAPS))
        self.observer = observer

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32, dict[str, Any]]:
        super().reset(seed=seed)
        rng, opts = self.np_random, options or {}
        base = HELD_OUT_PHANTOM_SEED if self.held_out else 0
        phantom = int(opts.get("phantom", base + int(rng.integers(0, HELD_OUT_PHANTOM_SEED))))
        if (phantom >= HELD_OUT_PHANTOM_SEED) != self.held_out:
            split = "held-out" if self.held_out else "training"
            raise ValueError(f"phantom {phantom} is not one of the {split} phantoms")
        if self.view is None or self.view.phantom_id != phantom:
            self.view = ProbeView(phantom, self.size, self.target)
        if "offset" in opts:
            self.offset = np.clip(np.asarray(opts["offset"], np.float64), -_LIMITS, _LIMITS)
        else:
            while True:  # a start that is not already a success
                self.offset = rng.uniform(-1.0, 1.0, len(_CAPS)) * np.array(PROBE_START_RANGE)
                if not self._errors()[2]:
                    break
        self.steps, self.path_mm, self.path_deg, self.inside = 0, 0.0, 0.0, 0
        self.start_error = self._errors()[:2]
        frame = self._features()
        self._frames = [frame] * self.history
        self._moves = [np.zeros(len(_CAPS), np.float32)] * (self.history - 1)
        obs, info = self._stacked(), self._info("")
        self.quality = float(info["view_quality"])
        return obs, info

    def _errors(self) -> tuple[float, float, bool]:
        assert self.view is not None
        mm, deg = pose_error(self.view.pose(self.offset), self.view.target)
        return mm, deg, mm <= PROBE_SUCCESS_MM and deg <= PROBE_SUCCESS_DEG

    def step(self, action: F32) -> tuple[F32, float, bool, bool, dict[str, Any]]:
        if self.view is None:
            raise RuntimeError("call reset() before step()")
        move = np.clip(np.asarray(action, np.float64).reshape(-1), -1.0, 1.0) * _CAPS
        before = self.offset
        self.offset = np.clip(before + move, -_LIMITS, _LIMITS)
        done = self.offset - before
        self.path_mm += float(np.abs(done[:3]).sum())
        self.path_deg += float(np.abs(done[3:]).sum())
        self.steps += 1
        self.inside = self.inside + 1 if self._errors()[2] else 0
        success = self.inside >= self.dwell
        reason = "success" if success else ("step_limit" if self.steps >= self.max_steps else "")
        self._frames = [self._features(), *self._frames[:-1]]
        if self.history > 1:
            taken = np.clip(np.asarray(action, np.float32).reshape(-1), -1.0, 1.0)
            self._moves = [taken, *self._moves[:-1]]
        obs, info = self._stacked(), self._info(reason)
        quality = float(info["view_quality"])
        reward = 10.0 * (quality - self.quality) - 0.05 + (5.0 if success else 0.0)
        self.quality = quality
        return obs, reward, success, reason == "step_limit", info

    def _features(self) -> F32:
        assert self.view is not None
        if self.observer is not None:
            return self.observer(self)
        return self.view.features(self.view.labels(self.view.pose(self.offset)))

    def _stacked(self) -> F32:
        return np.concatenate([*self._frames, *self._moves]).astype(np.float32)

    def _info(self, reason: str) -> dict[str, Any]:
        assert self.view is not None
        mm, deg, at_view = self._errors()
        return {
            "pose_error_mm": mm,
            "pose_error_deg": deg,
            "view_quality": view_quality(mm, deg),
            "start_error_mm": self.start_error[0],
            "start_error_deg": self.start_error[1],
            "offset": [round(float(x), 4) for x in self.offset],
            "path_length_mm": self.path_mm,
            "path_deg": self.path_deg,
            "steps": self.steps,
            "phantom": self.view.phantom_id,
            "reason": reason,
            "at_view": at_view,
            "success": self.inside >= self.dwell,
        }
