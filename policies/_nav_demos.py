"""Warm start of a PPO policy from an expert's demonstrations (``train policy --demo-steps N``),
before reinforcement learning takes over. The expert is the scripted controller, or for
ProbeNav the privileged oracle that reads the true probe pose (:class:`ProbeOracle`).

DAgger (Ross et al., 2011) in ``rounds`` rounds of ``steps / rounds`` environment steps on the
training anatomies: in the first the expert drives; in the later ones the policy being fitted
drives (its mean action) and the expert, stepped along the same observations, labels each one
with the action it would take. After each round the actor's
mean is fitted to every label gathered so far (mean squared error) and the critic to the
discounted return that followed each observation, so PPO starts from a policy that already
reaches targets and a value function that knows it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..sim import PROBE_ENV_IDS, make_nav_env
from ._policy_spec import policy_from_spec
from ._probe_oracle import ProbeOracle

F32 = npt.NDArray[np.float32]
DEMO_SEED = 0x0DE5
"""Mixed into the episode seeds of the demonstrations (apart from PPO's own resets)."""
DEMO_EXPERTS = ("scripted", "oracle")
"""Who labels the demonstrations: the scripted controller, or (ProbeNav) the oracle."""


def check_demo_expert(expert_name: str, env_id: str) -> None:
    """ValueError unless ``expert_name`` (``DEMO_EXPERTS``) can label ``env_id``'s steps."""
    if expert_name not in DEMO_EXPERTS or (expert_name == "oracle" and env_id not in PROBE_ENV_IDS):
        raise ValueError(
            f"--demo-expert must be one of {', '.join(DEMO_EXPERTS)} (oracle: ProbeNav only)"
        )


def _rollouts(
    env: Any, expert: Any, driver: Any, steps: int, *, gamma: float, first_seed: int
) -> tuple[F32, F32, F32, int]:
    """``steps`` environment steps, whole episodes (the last one finished): observations, the
    expert's actions, discounted returns, and the number of episodes played."""
    obs_l: list[F32] = []
    act_l: list[F32] = []
    ret_l: list[float] = []
    episodes = 0
    while len(obs_l) < steps:
        obs, _ = env.reset(seed=first_seed + episodes)
        expert.reset()
        rewards: list[float] = []
        done = False
        while not done:
            label = np.asarray(expert.act(obs), dtype=np.float32)
            act = label if driver is None else driver(obs)
            obs_l.append(obs)
            act_l.append(label)
            obs, reward, term, trunc, _ = env.step(act)
            rewards.append(float(reward))
            done = term or trunc
        g, returns = 0.0, []
        for r in reversed(rewards):
            g = r + gamma * g
            returns.append(g)
        ret_l.extend(reversed(returns))
        episodes += 1
    return np.asarray(obs_l), np.asarray(act_l), np.asarray(ret_l, dtype=np.float32), episodes


def _fit(policy: Any, obs: F32, act: F32, ret: F32, *, epochs: int, seed: int) -> float:
    """Fit the actor's mean to ``act`` and the critic to ``ret``; the last epoch's actor MSE."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x, y, v = (torch.as_tensor(a) for a in (obs, act, ret))
    opt = torch.optim.Adam(policy.parameters(), lr=1e-3)
    policy.set_training_mode(True)
    mse = 0.0
    for _ in range(epochs):
        order: Any = torch.randperm(len(x), generator=gen)
        total = 0.0
        for batch in order.split(256):
            mean = policy.get_distribution(x[batch]).distribution.mean
            loss_pi = torch.nn.functional.mse_loss(mean, y[batch])
            loss_v = torch.nn.functional.mse_loss(
                policy.predict_values(x[batch]).squeeze(-1), v[batch]
            )
            opt.zero_grad()
            loss: Any = loss_pi + 0.1 * loss_v
            loss.backward()
            opt.step()
            total += float(loss_pi.detach()) * len(batch)
        mse = total / len(x)
    policy.set_training_mode(False)
    return mse


def warm_start(
    model: Any,
    env_id: str,
    steps: int,
    seed: int,
    *,
    rounds: int = 3,
    epochs: int = 8,
    gamma: float = 0.99,
    env_kwargs: dict[str, Any] | None = None,
    expert_name: str = "scripted",
) -> dict[str, Any]:
    """Fit SB3 PPO ``model``'s policy to ``steps`` steps of ``expert_name``'s demonstrations
    (``DEMO_EXPERTS``) on ``env_id`` made with ``env_kwargs`` (module docstring). Returns
    ``{"steps", "episodes", "action_mse"}`` (the MSE per round, in action units squared)."""
    check_demo_expert(expert_name, env_id)
    env = make_nav_env(env_id, **(env_kwargs or {}))
    expert = ProbeOracle(env) if expert_name == "oracle" else policy_from_spec(expert_name, env_id)
    per_round = max(steps // rounds, 1)
    data: list[tuple[F32, F32, F32]] = []
    episodes, mses, done_steps = 0, [], 0
    for r in range(rounds):
        driver = None
        if r > 0:

            def driver(obs: F32) -> F32:
                act, _ = model.policy.predict(obs, deterministic=True)
                return np.asarray(act, dtype=np.float32)

        first = (seed * 7919 + DEMO_SEED) * 1_000_003 + episodes
        obs, act, ret, n = _rollouts(env, expert, driver, per_round, gamma=gamma, first_seed=first)
        data.append((obs, act, ret))
        episodes, done_steps = episodes + n, done_steps + len(obs)
        stacked = [np.concatenate(parts) for parts in zip(*data, strict=True)]
        mses.append(round(_fit(model.policy, *stacked, epochs=epochs, seed=seed + r), 5))
    env.close()
    return {"steps": done_steps, "episodes": episodes, "action_mse": mses}
