"""Baselines for ``orstream/ProbeNav-v0`` and ``-v1``: a proportional servo on the chamber-mask
features, and a uniformly random policy. Both read the observation only, as a learned policy
does, so they run unchanged on features from segmented images.

The servo is a feature-based visual servo whose gains are measured, not guessed: once, on
training phantoms, it records the features ``f*`` of the apical four-chamber view and fits by
least squares the linear map ``K`` from the feature error ``f - f*`` to the probe offset that
caused it (the features that locate the view: the LV axis upright and centred, the four chambers
balanced left/right, the LV at full length, the atria and the right heart in plane). Each step
moves the probe by ``-gain * K (f - f*)``, capped per motion; while an atrium is missing from
the image the tilt is searched instead (``ScriptedProbePolicy``). Rotation about the LV axis
(whose cavity is nearly a body of revolution) is what the features locate worst: the servo's
main failure, measured in docs/policies/probe-nav.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ..sim import (
    PROBE_ACTION_LAYOUT,
    PROBE_ENV_IDS,
    PROBE_OBS_LAYOUT,
    PROBE_OBS_SIZE,
    PROBE_START_RANGE,
    PROBE_STEP_CAPS,
    make_nav_env,
)
from ._nav_scripted import RandomNavPolicy

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
_I = {name: i for i, name in enumerate(PROBE_OBS_LAYOUT)}
_TILT = PROBE_ACTION_LAYOUT.index("tilt_deg")


@dataclass(frozen=True)
class ProbeServoModel:
    """What the servo knows: reference features ``target`` (F,) and the gains ``gains`` (5, F)
    with ``bias`` (5,) that map a feature error to a probe offset in ``PROBE_ACTION_LAYOUT``
    units (mm or deg)."""

    target: F64
    gains: F64
    bias: F64


@lru_cache(maxsize=4)
def calibrate_probe_servo(
    phantoms: int = 24,
    poses_per_phantom: int = 16,
    seed: int = 0,
    ridge: float = 1e-3,
    env_id: str = PROBE_ENV_IDS[0],
) -> ProbeServoModel:
    """Fit the servo's model on training phantoms of ``env_id`` (reset seeds ``seed``...): the
    mean features at the target view, and a ridge least-squares map from feature errors to probe
    offsets drawn within the start range (half of them within 0.3 of it, where the servo ends).
    The features are the newest frame's (the first ``PROBE_OBS_SIZE`` entries)."""
    env = make_nav_env(env_id)
    rng = np.random.default_rng(seed)
    span = np.array(PROBE_START_RANGE)
    targets, offsets, feats = [], [], []
    try:
        for k in range(phantoms):
            obs, info = env.reset(seed=seed + k, options={"offset": np.zeros(len(span))})
            targets.append(obs[:PROBE_OBS_SIZE].astype(np.float64))
            for j in range(poses_per_phantom):
                offset = rng.uniform(-1.0, 1.0, len(span)) * span * (1.0 if j % 2 else 0.3)
                obs, _ = env.reset(options={"offset": offset, "phantom": info["phantom"]})
                offsets.append(offset)
                feats.append(obs[:PROBE_OBS_SIZE].astype(np.float64))
    finally:
        env.close()
    target = np.mean(targets, axis=0)
    x = np.hstack([np.array(feats) - target, np.ones((len(feats), 1))])
    coef = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ np.array(offsets))
    return ProbeServoModel(target, coef[:-1].T.copy(), coef[-1].copy())


class ScriptedProbePolicy:
    """Proportional servo on the chamber-mask features (see the module docstring).

    ``gain``: fraction of the estimated offset corrected per step, per motion scaled by
    ``dof_gains`` (``PROBE_ACTION_LAYOUT`` order). While an atrium is missing from the image (the
    plane tilted off the four-chamber plane, where the features stop locating the tilt), the tilt
    sweeps at full cap instead and reverses when the LV's long axis has shortened by
    ``reverse_length`` (fraction of the depth) from the longest seen in the sweep: a
    sonographer's search for the plane that shows the LV at full length with both atria.
    ``env_id``: the environment whose target view the servo is calibrated on; it reads the
    newest frame's features of that environment's observation."""

    name = "scripted"

    def __init__(
        self,
        gain: float = 0.5,
        dof_gains: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0),
        reverse_length: float = 0.01,
        env_id: str = PROBE_ENV_IDS[0],
    ) -> None:
        self.gain, self.dof_gains = gain, np.asarray(dof_gains, np.float64)
        self.reverse_length, self.env_id = reverse_length, env_id
        self._model: ProbeServoModel | None = None
        self._sweep, self._best_length = 0.0, -1.0

    def reset(self) -> None:
        self._sweep, self._best_length = 0.0, -1.0

    def act(self, obs: F32) -> F32:
        """An observation (the newest frame's features first) -> (5,) float32 action in
        [-1, 1]."""
        if self._model is None:
            self._model = calibrate_probe_servo(env_id=self.env_id)
        m, obs = self._model, obs[:PROBE_OBS_SIZE]
        offset: F64 = m.gains @ (obs.astype(np.float64) - m.target) + m.bias
        move = -self.gain * self.dof_gains * offset / np.array(PROBE_STEP_CAPS)
        if min(obs[_I["la_present"]], obs[_I["ra_present"]]) < 0.5:  # search the tilt
            length = float(obs[_I["lv_length"]])
            if self._sweep == 0.0:
                self._sweep = 1.0 if move[_TILT] > 0.0 else -1.0
            elif length < self._best_length - self.reverse_length:
                self._sweep, self._best_length = -self._sweep, length
            move[_TILT] = self._sweep
            self._best_length = max(self._best_length, length)
        else:
            self._sweep, self._best_length = 0.0, -1.0
        action: F32 = np.clip(move, -1.0, 1.0).astype(np.float32)
        return action


class RandomProbePolicy(RandomNavPolicy):
    """Uniformly random probe motions in [-1, 1]^5 (seeded)."""

    action_size = len(PROBE_STEP_CAPS)
