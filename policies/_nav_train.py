"""Train a navigation policy with stable-baselines3 (PPO or SAC) and export its actor to ONNX.

A run folder holds ``config.json`` (every setting and the command), ``demos.json`` (with
``demo_steps``: the warm start's figures, ``_nav_demos``), ``checkpoints/`` (SB3 zips every
``checkpoint_steps``), ``tb/`` (TensorBoard logs), ``final.zip`` and ``<name>.onnx``.
``resume`` continues a run from its newest checkpoint up to its step target.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..sim import NAV_ENV_IDS, PROBE_ENV_IDS, MaskNoise, TrackerNoise, make_nav_env
from ._nav_demos import check_demo_expert, warm_start
from ._nav_export import export_nav_actor
from ._nav_runtime import SHIPPED_POLICIES

ALGOS = ("ppo", "sac")
POLICY_NAMES = SHIPPED_POLICIES
"""The name ``train policy`` gives a run's policy file and checkpoints, per environment id: the
name its shipped policy has."""


@dataclass(frozen=True)
class NavTrainConfig:
    """Settings of one training run (saved as ``config.json`` beside its checkpoints)."""

    env_id: str = "orstream/CatheterNav-v0"
    algo: str = "ppo"
    steps: int = 1_000_000
    seed: int = 0
    n_envs: int = 8
    checkpoint_steps: int = 50_000
    learning_rate: float = 3e-4
    n_steps: int = 256
    batch_size: int = 256
    gamma: float = 0.99
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    log_std_init: float = -0.5
    demo_steps: int = 0
    """Demonstration steps the policy is fitted to before PPO (0: none)."""
    demo_expert: str = "scripted"
    """Who labels them (``DEMO_EXPERTS``: the scripted controller, or the ProbeNav oracle)."""
    demo_rounds: int = 3
    """DAgger rounds the demonstration steps are split into."""
    demo_epochs: int = 8
    """Passes over all the labels so far after each round."""
    tip_noise: bool = False
    """CatheterNav: train on the tip seen with a tracker's error and confidence
    (:class:`~orstream.sim.TrackerNoise`) instead of the true tip with confidence 1."""
    mask_noise: bool = False
    """ProbeNav: train on the label map with segmentation-like errors
    (:class:`~orstream.sim.MaskNoise`) instead of the perfect one."""
    perception: bool = False
    """ProbeNav: train on the chamber features of segmented B-mode frames
    (``ProbePerception``), as ``eval policy --perception`` plays, instead of the label map."""
    safety_penalty: float = 0.0
    """CatheterNav: reward taken off each step whose contact force is at or over
    ``SAFE_FORCE_N`` (0: the environment's own reward)."""
    threads: int = 1
    name: str = "catheter-nav"
    command: str = ""

    def check(self) -> None:
        """ValueError on a setting that cannot train."""
        if self.env_id not in NAV_ENV_IDS + PROBE_ENV_IDS:
            ids = ", ".join(NAV_ENV_IDS + PROBE_ENV_IDS)
            raise ValueError(f"unknown environment {self.env_id!r}: use {ids}")
        if self.algo not in ALGOS:
            raise ValueError(f"--algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if min(self.steps, self.n_envs, self.checkpoint_steps, self.threads) < 1:
            raise ValueError("steps, n_envs, checkpoint_steps and threads must be positive")
        if self.demo_steps < 0 or (self.demo_steps and self.algo != "ppo"):
            raise ValueError("--demo-steps must be 0 or more, and warm-starts PPO only")
        if min(self.demo_rounds, self.demo_epochs) < 1:
            raise ValueError("--demo-rounds and --demo-epochs must be positive")
        check_demo_expert(self.demo_expert, self.env_id)
        if not self.net_arch or min(self.net_arch) < 1:
            raise ValueError("--net-arch needs one or more positive layer widths")
        if self.tip_noise and self.env_id not in NAV_ENV_IDS:
            raise ValueError("--tip-noise applies to the catheter environments only")
        if (self.mask_noise or self.perception) and self.env_id not in PROBE_ENV_IDS:
            raise ValueError("--mask-noise and --perception apply to the probe environments only")
        if self.mask_noise and self.perception:
            raise ValueError("choose one of --mask-noise and --perception")
        if self.safety_penalty < 0 or (self.safety_penalty and self.env_id not in NAV_ENV_IDS):
            raise ValueError("--safety-penalty must be 0 or more, and applies to CatheterNav only")

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``make_nav_env`` for training environments."""
        kwargs: dict[str, Any] = {}
        if self.tip_noise:
            kwargs["observer"] = TrackerNoise()
        if self.mask_noise:
            kwargs["observer"] = MaskNoise()
        if self.perception:
            from ._probe_perception import ProbePerception

            kwargs["observer"] = ProbePerception()
        if self.safety_penalty:
            kwargs["safety_penalty"] = self.safety_penalty
        return kwargs


def load_nav_config(run: Path) -> NavTrainConfig:
    """The config of run folder ``run``; ValueError when it has none or it is malformed."""
    path = Path(run) / "config.json"
    try:
        raw = json.loads(path.read_text())
        return NavTrainConfig(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot resume from {run}: no readable config.json ({exc})") from exc


def latest_checkpoint(run: Path) -> Path | None:
    """The checkpoint of ``run`` with the most steps, or None."""
    found = []
    for p in (Path(run) / "checkpoints").glob("*_steps.zip"):
        m = re.search(r"_(\d+)_steps\.zip$", p.name)
        if m:
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def _model(cfg: NavTrainConfig, env: Any, run: Path) -> Any:
    from stable_baselines3 import PPO, SAC

    tb = str(run / "tb")
    if cfg.algo == "ppo":
        return PPO(
            "MlpPolicy",
            env,
            learning_rate=cfg.learning_rate,
            n_steps=cfg.n_steps,
            batch_size=cfg.batch_size,
            gamma=cfg.gamma,
            policy_kwargs={"net_arch": cfg.net_arch, "log_std_init": cfg.log_std_init},
            tensorboard_log=tb,
            seed=cfg.seed,
            device="cpu",
            verbose=0,
        )
    return SAC(
        "MlpPolicy",
        env,
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        gamma=cfg.gamma,
        policy_kwargs={"net_arch": cfg.net_arch},
        tensorboard_log=tb,
        seed=cfg.seed,
        device="cpu",
        verbose=0,
    )


def train_nav_policy(
    cfg: NavTrainConfig, run: Path, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or, with ``resume``, continue) ``cfg`` in folder ``run``; export the actor.

    Returns ``{"run", "onnx", "steps", "resumed_from"}``.
    """
    import torch
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.callbacks import CheckpointCallback
    from stable_baselines3.common.env_util import make_vec_env

    cfg.check()
    torch.set_num_threads(cfg.threads)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    env = make_vec_env(
        lambda: make_nav_env(cfg.env_id, **cfg.env_kwargs()), n_envs=cfg.n_envs, seed=cfg.seed
    )
    start = latest_checkpoint(run) if resume else None
    if resume and start is None:
        raise ValueError(f"cannot resume from {run}: it has no checkpoints/*_steps.zip")
    if start is not None:
        algo = PPO if cfg.algo == "ppo" else SAC
        model = algo.load(str(start), env=env, device="cpu", tensorboard_log=str(run / "tb"))
    else:
        model = _model(cfg, env, run)
        (run / "config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
        if cfg.demo_steps:
            demos = warm_start(
                model,
                cfg.env_id,
                cfg.demo_steps,
                cfg.seed,
                rounds=cfg.demo_rounds,
                epochs=cfg.demo_epochs,
                env_kwargs=cfg.env_kwargs(),
                expert_name=cfg.demo_expert,
            )
            (run / "demos.json").write_text(json.dumps(demos, indent=2) + "\n")
    left = cfg.steps - int(model.num_timesteps)
    saver = CheckpointCallback(
        save_freq=max(cfg.checkpoint_steps // cfg.n_envs, 1),
        save_path=str(run / "checkpoints"),
        name_prefix=cfg.name,
    )
    if left > 0:
        model.learn(
            total_timesteps=left,
            callback=saver,
            progress_bar=progress,
            reset_num_timesteps=start is None,
            tb_log_name=cfg.algo,
        )
    model.save(str(run / "final.zip"))
    onnx_path = export_nav_actor(model, cfg.env_id, run / f"{cfg.name}.onnx", cfg.name)
    env.close()
    return {
        "run": str(run),
        "onnx": str(onnx_path),
        "steps": int(model.num_timesteps),
        "resumed_from": str(start) if start else None,
    }
