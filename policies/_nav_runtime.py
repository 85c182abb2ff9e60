"""Run an exported navigation policy with ONNX Runtime (no torch needed).

A policy file is an ONNX graph ``obs (B, OBS) float32 -> action (B, A) float32`` (the
deterministic action, already in [-1, 1]) whose metadata names the environment id and the
observation size it was made for; the shipped ones are ``policies/models/<name>.onnx`` with a
card ``<name>.json`` beside. A missing, corrupt or foreign file is one ``ValueError``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from ..sim import NAV_OBS_SIZE, PROBE_ENV_IDS, probe_obs_size

F32 = npt.NDArray[np.float32]
MODELS_DIR = Path(__file__).resolve().parent / "models"
SHIPPED_POLICIES = {
    "orstream/CatheterNav-v0": "catheter-nav",
    "orstream/ProbeNav-v0": "probe-nav",
    "orstream/ProbeNav-v1": "probe-nav-v1",
}
"""The shipped policy of each environment id: ``MODELS_DIR / NAME.onnx``."""


def shipped_policy_path(env_id: str) -> Path:
    """The shipped policy file of ``env_id``; ValueError when none is shipped."""
    name = SHIPPED_POLICIES.get(env_id)
    path = MODELS_DIR / f"{name}.onnx"
    if name is None or not path.is_file():
        raise ValueError(f"no shipped policy for {env_id}: give --policy PATH.onnx")
    return path


class OnnxPolicy:
    """A navigation policy from an ONNX file, checked against ``env_id`` (see the module
    docstring). Stateless: ``reset`` does nothing."""

    def __init__(self, path: Path, env_id: str, threads: int = 1) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"policy file {path} does not exist")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
            raise ValueError(f"policy file {path} is not a valid ONNX model ({exc})") from exc
        meta = self._sess.get_modelmeta().custom_metadata_map
        made_for = meta.get("env_id", "")
        if made_for != env_id:
            raise ValueError(
                f"policy file {path} was made for {made_for or 'an unknown environment'}, "
                f"not {env_id}"
            )
        inputs = self._sess.get_inputs()
        size = inputs[0].shape[-1] if inputs else None
        want = probe_obs_size(env_id) if env_id in PROBE_ENV_IDS else NAV_OBS_SIZE
        if len(inputs) != 1 or size != want or meta.get("obs_size") != str(want):
            raise ValueError(
                f"policy file {path} expects observations of size {size}, {env_id} gives {want}"
            )
        self._input = inputs[0].name
        self.name = meta.get("name", path.stem)
        self.metadata = dict(meta)

    def reset(self) -> None:
        return None

    def act(self, obs: F32) -> F32:
        """(OBS,) float32 -> (A,) float32 action in [-1, 1]."""
        batch = np.ascontiguousarray(obs, dtype=np.float32).reshape(1, -1)
        out = self._sess.run(None, {self._input: batch})[0]
        return np.clip(np.asarray(out, dtype=np.float32).reshape(-1), -1.0, 1.0)

    def act_batch(self, obs: F32) -> F32:
        """(B, OBS) float32 -> (B, A) float32 actions in [-1, 1]."""
        out = self._sess.run(None, {self._input: np.ascontiguousarray(obs, dtype=np.float32)})[0]
        return np.clip(np.asarray(out, dtype=np.float32), -1.0, 1.0)
