"""Export a trained stable-baselines3 actor to ONNX: ``obs (B, OBS) -> action (B, A)``, the
deterministic action clipped to [-1, 1], with the environment id and observation size in the
model metadata (``OnnxPolicy`` checks them)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import onnx


def export_nav_actor(model: Any, env_id: str, out: Path, name: str) -> Path:
    """Write the deterministic actor of SB3 ``model`` (PPO or SAC) to ``out`` (.onnx)."""
    import torch

    policy = model.policy.to("cpu").eval()

    class _Actor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            if hasattr(self.policy, "actor"):  # SAC: tanh-squashed mean
                action = self.policy.actor(obs, deterministic=True)
            else:  # PPO: the Gaussian's mean
                latent = self.policy.mlp_extractor.forward_actor(
                    self.policy.extract_features(obs, self.policy.pi_features_extractor)
                )
                action = self.policy.action_net(latent)
            return torch.clamp(action, -1.0, 1.0)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    obs_size = int(model.observation_space.shape[0])
    dummy = torch.zeros(1, obs_size, dtype=torch.float32)
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        _export(torch, _Actor(), dummy, out)
    graph = onnx.load(str(out))
    meta = {"env_id": env_id, "obs_size": str(obs_size), "name": name}
    for key, value in meta.items():
        graph.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.save(graph, str(out))
    return out


def _export(torch: Any, actor: Any, dummy: Any, out: Path) -> None:
    torch.onnx.export(
        actor,
        (dummy,),
        str(out),
        input_names=["obs"],
        output_names=["action"],
        dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
