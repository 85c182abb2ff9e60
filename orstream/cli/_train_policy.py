"""``orstream train policy`` and ``orstream eval policy``: train a navigation policy with
stable-baselines3 and export it to ONNX; score a policy (learned, scripted or random) on
episodes with 95 % intervals. Parsing and printing only: the work is ``orstream.policies``.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from ..policies import (
    NAV_ALGOS,
    NAV_DEMO_EXPERTS,
    NAV_POLICY_NAMES,
    NavTrainConfig,
    evaluate_nav_policy,
    evaluate_probe_policy,
    load_nav_config,
    train_nav_policy,
)
from ..sim import NAV_ENV_IDS, PROBE_ENV_IDS
from ._argtypes import positive_int


def register_policy(train_kinds: Any, eval_kinds: Any) -> None:
    """Add ``policy`` to the ``train`` and ``eval`` subcommands."""
    tp = train_kinds.add_parser("policy", help="a navigation policy (stable-baselines3 -> ONNX)")
    tp.add_argument(
        "--env", default=NAV_ENV_IDS[0], choices=NAV_ENV_IDS + PROBE_ENV_IDS, help="environment id"
    )
    tp.add_argument("--algo", choices=NAV_ALGOS, default="ppo")
    tp.add_argument("--steps", type=positive_int, default=1_000_000, help="environment steps")
    tp.add_argument("--seed", type=int, default=0)
    tp.add_argument("--n-envs", type=positive_int, default=8, help="vectorized environments")
    tp.add_argument("--checkpoint-steps", type=positive_int, default=50_000)
    tp.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    tp.add_argument("--lr", type=float, default=3e-4, help="learning rate (default 3e-4)")
    tp.add_argument(
        "--log-std",
        type=float,
        default=-0.5,
        help="PPO: initial log standard deviation of the action noise (default -0.5)",
    )
    tp.add_argument(
        "--net-arch",
        type=_widths,
        default=[64, 64],
        metavar="W,W",
        help="hidden layer widths of the actor and of the critic (default 64,64)",
    )
    tp.add_argument(
        "--demo-steps",
        type=int,
        default=0,
        help="PPO: first fit the policy to this many steps of an expert's demonstrations "
        "(DAgger, labelled by --demo-expert; default 0: none)",
    )
    tp.add_argument(
        "--demo-expert",
        choices=NAV_DEMO_EXPERTS,
        default="scripted",
        help="who labels the demonstrations: the scripted controller (default) or, for "
        "ProbeNav, the oracle that reads the true probe pose",
    )
    tp.add_argument("--demo-rounds", type=positive_int, default=3, help="DAgger rounds (default 3)")
    tp.add_argument(
        "--demo-epochs",
        type=positive_int,
        default=8,
        help="passes over the labels after each round (default 8)",
    )
    tp.add_argument(
        "--tip-noise",
        action="store_true",
        help="CatheterNav: train on the tip seen with a tracker's error and a confidence in "
        "[0.5, 1] instead of the true tip with confidence 1",
    )
    tp.add_argument(
        "--mask-noise",
        action="store_true",
        help="ProbeNav: train on the chamber label map with segmentation-like errors (a smooth "
        "random warp, RV and atria sometimes missed) instead of the perfect map",
    )
    tp.add_argument(
        "--perception",
        action="store_true",
        help="ProbeNav: train on the chambers segmented by echo-lv on B-mode frames, as "
        "eval policy --perception plays, instead of the label map",
    )
    tp.add_argument(
        "--safety-penalty",
        type=float,
        default=0.0,
        metavar="R",
        help="CatheterNav: take R off the reward on each step whose contact force is at or "
        "over the safety threshold (0.3 N) (default 0: the environment's reward)",
    )
    tp.add_argument("--out", type=Path, default=None, help="run folder (runs/policy-ENV-SEED)")
    tp.add_argument("--resume", type=Path, default=None, metavar="DIR", help="continue a run")
    tp.add_argument("--no-progress", action="store_true", help="no progress bar")
    tp.set_defaults(func=train_policy)

    ep = eval_kinds.add_parser("policy", help="success, SPL, force and safety with 95%% intervals")
    ep.add_argument(
        "--env",
        default=NAV_ENV_IDS[0],
        choices=NAV_ENV_IDS + PROBE_ENV_IDS,
        help="environment id",
    )
    ep.add_argument(
        "--policy",
        action="append",
        default=None,
        help="PATH.onnx (repeat for several training seeds), scripted or random "
        "(default: the shipped policy of --env)",
    )
    ep.add_argument("--episodes", type=positive_int, default=100, help="episodes per policy")
    ep.add_argument("--seed", type=int, default=0, help="first episode seed")
    ep.add_argument("--held-out", action="store_true", help="evaluation-only anatomies")
    ep.add_argument("--anatomy", type=Path, default=None, help="a 3D centerline-tree file")
    ep.add_argument(
        "--anatomy-mm-per-unit", type=float, default=1.0, help="mm per coordinate unit of it"
    )
    ep.add_argument(
        "--perception",
        action="store_true",
        help="the policy sees what the shipped models make of rendered frames: CatheterNav the "
        "tip tracked by fluoro-catheter instead of the true tip, ProbeNav the chambers "
        "segmented by echo-lv on B-mode frames instead of the phantom's label map",
    )
    ep.add_argument(
        "--against",
        default=None,
        metavar="POLICY",
        help="also play the same episodes with this policy (scripted, random or PATH.onnx) and "
        "report each figure's paired difference (policy minus it) with a 95%% interval",
    )
    ep.add_argument("--json", action="store_true", help="one JSON document on stdout")
    ep.add_argument("--out", type=Path, default=None, help="also save the report here (JSON)")
    ep.set_defaults(func=eval_policy)


def _widths(text: str) -> list[int]:
    """``"256,256"`` -> [256, 256]."""
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 256,256, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return widths


def train_policy(args: argparse.Namespace) -> int:
    if args.resume is not None:
        cfg = load_nav_config(args.resume)
        report = train_nav_policy(cfg, args.resume, resume=True, progress=not args.no_progress)
    else:
        out: Path = args.out or Path("runs") / f"policy-{args.env.split('/')[-1]}-{args.seed}"
        command = (
            f"orstream train policy --env {args.env} --algo {args.algo} --steps {args.steps} "
            f"--seed {args.seed} --n-envs {args.n_envs} "
            f"--checkpoint-steps {args.checkpoint_steps} --threads {args.threads} "
            + f"--lr {args.lr:g} --log-std {args.log_std:g} "
            + (
                f"--net-arch {','.join(map(str, args.net_arch))} "
                if args.net_arch != [64, 64]
                else ""
            )
            + (f"--demo-steps {args.demo_steps} " if args.demo_steps else "")
            + (
                f"--demo-expert {args.demo_expert} --demo-rounds {args.demo_rounds} "
                f"--demo-epochs {args.demo_epochs} "
                if args.demo_steps
                and (args.demo_expert, args.demo_rounds, args.demo_epochs) != ("scripted", 3, 8)
                else ""
            )
            + ("--tip-noise " if args.tip_noise else "")
            + ("--mask-noise " if args.mask_noise else "")
            + ("--perception " if args.perception else "")
            + (f"--safety-penalty {args.safety_penalty:g} " if args.safety_penalty else "")
            + f"--out {shlex.quote(str(out))}"
        )
        cfg = NavTrainConfig(
            env_id=args.env,
            algo=args.algo,
            steps=args.steps,
            seed=args.seed,
            n_envs=args.n_envs,
            checkpoint_steps=args.checkpoint_steps,
            threads=args.threads,
            demo_steps=args.demo_steps,
            demo_expert=args.demo_expert,
            demo_rounds=args.demo_rounds,
            demo_epochs=args.demo_epochs,
            perception=args.perception,
            tip_noise=args.tip_noise,
            mask_noise=args.mask_noise,
            safety_penalty=args.safety_penalty,
            learning_rate=args.lr,
            log_std_init=args.log_std,
            net_arch=args.net_arch,
            name=NAV_POLICY_NAMES[args.env],
            command=command,
        )
        report = train_nav_policy(cfg, out, progress=not args.no_progress)
    print(json.dumps(report))
    return 0


def eval_policy(args: argparse.Namespace) -> int:
    if args.env in PROBE_ENV_IDS and args.anatomy is not None:
        raise ValueError(f"--anatomy is for catheter environments, not {args.env}")
    report = (
        evaluate_probe_policy(
            args.env,
            args.policy or ["shipped"],
            episodes=args.episodes,
            seed=args.seed,
            held_out=args.held_out,
            perception=args.perception,
            against=args.against,
        )
        if args.env in PROBE_ENV_IDS
        else evaluate_nav_policy(
            args.env,
            args.policy or ["shipped"],
            episodes=args.episodes,
            seed=args.seed,
            held_out=args.held_out,
            anatomy=args.anatomy,
            anatomy_mm_per_unit=args.anatomy_mm_per_unit,
            perception=args.perception,
            against=args.against,
        )
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.env}: {report['episodes']} episodes of {', '.join(report['policies'])}")
    _print_figures(report)
    if "against" in report:
        base = report["against"]
        print(f"against {', '.join(base['policies'])} on the same episodes:")
        _print_figures(base)
        print("difference (policy minus it), paired:")
        _print_figures(base["difference"])
    return 0


def _print_figures(figures: dict[str, Any]) -> None:
    for name, value in figures.items():
        if isinstance(value, dict) and "mean" in value:
            lo, hi = value["ci95"]
            print(f"  {name:18s} {value['mean']:10.3f}  [{lo:.3f}, {hi:.3f}]")
