"""``orstream train seg`` and ``orstream eval seg``: train a segmentation model on its simulator
and export it; score a model on fresh simulator seeds (Dice per class, frames/s).

``train seg --model echo-lv --out DIR`` writes ``DIR/echo-lv.onnx`` with its sidecar
``DIR/echo-lv.json`` (ready to copy into ``kernels/models/``), ``DIR/best.pt`` (the best
state dict) and ``DIR/report.json`` (settings, per-epoch history, test scores).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._argtypes import positive_int
from ._datasets import (
    ECHO_FRAME_RANGE,
    SPLIT_SEEDS,
    SegSet,
    batches,
    fixed_batches,
    recipe,
    render_echo,
)
from ._errors import UsageError
from .kernels._backends import BACKENDS, Backend, load_backend
from .kernels._backends_segment import dice_scores, segment_images
from .kernels._models import ModelSpec, load_model, write_sidecar


def register(subparsers: Any) -> None:
    train = subparsers.add_parser("train", help="train a model on its simulator")
    kinds = train.add_subparsers(dest="kind", metavar="KIND", required=True)
    seg = kinds.add_parser("seg", help="a segmentation model (MONAI UNet, exported to ONNX)")
    seg.add_argument("--model", required=True, help="model to train (echo-lv)")
    seg.add_argument("--epochs", type=positive_int, default=14)
    seg.add_argument("--samples", type=positive_int, default=8000, help="training frames")
    seg.add_argument("--val-samples", type=positive_int, default=400, help="validation frames")
    seg.add_argument("--test-samples", type=positive_int, default=600, help="test frames")
    seg.add_argument("--batch-size", type=positive_int, default=16)
    seg.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate")
    seg.add_argument("--seed", type=int, default=0, help="weights init, shuffling, augmentation")
    seg.add_argument("--threads", type=positive_int, default=2, help="torch threads")
    seg.add_argument("--workers", type=positive_int, default=1, help="rendering processes")
    seg.add_argument("--out", type=Path, default=None, help="output folder (runs/MODEL)")
    seg.set_defaults(func=train_seg)

    ev = subparsers.add_parser("eval", help="score a model on fresh simulator data")
    ev_kinds = ev.add_subparsers(dest="kind", metavar="KIND", required=True)
    es = ev_kinds.add_parser("seg", help="Dice per class on fresh seeds, frames/s")
    es.add_argument("--model", required=True, help="shipped model name or PATH.onnx")
    es.add_argument("--samples", type=positive_int, default=600, help="test frames (2 per seed)")
    es.add_argument(
        "--size",
        type=positive_int,
        default=None,
        help="render at SIZE x SIZE px (default: the model's input size)",
    )
    es.add_argument("--backend", choices=("auto", *BACKENDS), default="onnxruntime")
    es.add_argument("--threads", type=positive_int, default=1, help="inference threads")
    es.add_argument(
        "--speed-frames",
        type=positive_int,
        default=300,
        help="frames timed for the frames/s figures",
    )
    es.add_argument("--json", action="store_true", help="one JSON document on stdout")
    es.add_argument("--out", type=Path, default=None, help="also save the report here (JSON)")
    es.set_defaults(func=eval_seg)


def _summary(values: np.ndarray[Any, Any]) -> dict[str, float | int]:
    v = values[np.isfinite(values)]
    if not len(v):
        return {"n": 0}
    return {
        "n": len(v),
        "mean": round(float(np.mean(v)), 4),
        "median": round(float(np.median(v)), 4),
        "p5": round(float(np.percentile(v, 5)), 4),
        "min": round(float(np.min(v)), 4),
    }


def frames_per_second(backend: Backend, n: int = 300, batch: int = 1) -> float:
    """Model frames/s of ``backend`` at batch ``batch`` (normalised 0.5 input, warm)."""
    h, w = backend.input_size
    x = np.full((batch, backend.model.in_channels, h, w), 0.5, np.float32)
    for _ in range(20):
        backend.run(x)
    t0 = time.perf_counter()
    runs = max(1, n // batch)
    for _ in range(runs):
        backend.run(x)
    return runs * batch / (time.perf_counter() - t0)


def segment_frames_per_second(backend: Backend, data: SegSet, n: int = 200) -> float:
    """Frames/s of the whole per-frame path at batch 1: normalise, run, resize logits back,
    arg-max (``segment_images``), on up to ``n`` of ``data``'s frames (after a warm-up)."""
    images = [data.images[i % len(data)] for i in range(n)]
    list(segment_images(backend, images[:10], batch_size=1))
    t0 = time.perf_counter()
    for _ in segment_images(backend, images, batch_size=1):
        pass
    return n / (time.perf_counter() - t0)


def score(backend: Backend, data: SegSet) -> dict[str, Any]:
    """Dice per class (mean/median/p5/min), per view for each class, and the worst LV frames,
    of ``backend`` on ``data`` through the full segmentation path (letterbox, resize)."""
    masks = np.stack(list(segment_images(backend, data.images, batch_size=32)))
    dice = dice_scores(masks, data.labels, backend.model.n_classes)
    names = backend.model.class_names[1:]
    views = np.array(data.views)
    report: dict[str, Any] = {"frames": len(data), "dice": {}, "dice_by_view": {}}
    for c, name in enumerate(names):
        report["dice"][name] = _summary(dice[:, c])
        report["dice_by_view"][name] = {
            v: _summary(dice[views == v, c]) for v in sorted(set(data.views))
        }
    worst = np.argsort(np.nan_to_num(dice[:, 0], nan=1.0))[:5]
    report["worst_lv"] = [
        {
            "seed": int(data.seeds[i]),
            "view": data.views[i],
            "frame": int(data.frames[i]),
            "dice": round(float(dice[i, 0]), 4),
        }
        for i in worst
    ]
    return report


def evaluate(
    spec: ModelSpec,
    *,
    samples: int,
    size: int | None = None,
    backend: str = "onnxruntime",
    threads: int = 1,
    speed_frames: int = 300,
    progress: Any = None,
) -> dict[str, Any]:
    """The evaluation report of ``spec`` on the test split (seeds from ``SPLIT_SEEDS["test"]``,
    never used in training), rendered at ``size`` px square (default: the model's input)."""
    side = size or spec.input_size[0]
    n_seeds = max(1, samples // 2)
    data = render_echo("test", n_seeds, size=(side, side), progress=progress)
    try:
        runner = load_backend(spec, backend, threads=threads)
    except (ImportError, RuntimeError) as exc:  # a backend this machine cannot run: one line
        raise UsageError(str(exc)) from exc
    report: dict[str, Any] = {
        "model": spec.name,
        "sha256": spec.sha256,
        "backend": runner.name,
        "threads": threads,
        "test_seeds": [SPLIT_SEEDS["test"], SPLIT_SEEDS["test"] + n_seeds],
        "frames_per_seed": 2,
        "frame_range": [0, ECHO_FRAME_RANGE],
        "render_size": [side, side],
        **score(runner, data),
        "frames_per_s_batch1": round(frames_per_second(runner, speed_frames), 1),
        "segment_frames_per_s_batch1": round(
            segment_frames_per_second(runner, data, speed_frames), 1
        ),
        "model_bytes": spec.onnx_path.stat().st_size,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    return report


def _print_report(report: dict[str, Any]) -> None:
    print(
        f"{report['model']} on {report['frames']} fresh test frames "
        f"(seeds {report['test_seeds'][0]}..{report['test_seeds'][1] - 1}, "
        f"{report['render_size'][0]} px), backend {report['backend']}:"
    )
    for name, s in report["dice"].items():
        if s.get("n"):
            by_view = ", ".join(
                f"{v} {d['mean']:.3f}" for v, d in report["dice_by_view"][name].items() if d["n"]
            )
            print(
                f"  {name:14s} Dice mean {s['mean']:.3f} median {s['median']:.3f} "
                f"p5 {s['p5']:.3f} ({by_view})"
            )
    print(
        f"  {report['frames_per_s_batch1']:.0f} frames/s at batch 1 (model only), "
        f"{report['segment_frames_per_s_batch1']:.0f} frames/s image to mask, "
        f"{report['threads']} thread(s); model {report['model_bytes'] / 1e6:.2f} MB"
    )


def eval_seg(args: argparse.Namespace) -> int:
    spec = load_model(args.model)
    report = evaluate(
        spec,
        samples=args.samples,
        size=args.size,
        backend=args.backend,
        threads=args.threads,
        speed_frames=args.speed_frames,
        progress=sys.stderr,
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report)
    return 0


def train_seg(args: argparse.Namespace) -> int:
    from .kernels._backends_torch import build_network
    from .kernels._train_seg import SegTrainConfig, export_onnx, train_segmentation

    r = recipe(args.model)
    out: Path = args.out or Path("runs") / r.name
    out.mkdir(parents=True, exist_ok=True)
    config = SegTrainConfig(epochs=args.epochs, lr=args.lr, seed=args.seed, threads=args.threads)
    command = (
        f"orstream train seg --model {r.name} --epochs {args.epochs} --samples {args.samples} "
        f"--val-samples {args.val_samples} --test-samples {args.test_samples} "
        f"--batch-size {args.batch_size} --lr {args.lr:g} --seed {args.seed} "
        f"--threads {args.threads} --workers {args.workers} --out {shlex.quote(str(out))}"
    )
    t0 = time.perf_counter()
    train = render_echo(
        "train",
        max(1, args.samples // 2),
        size=r.input_size,
        render_sizes=r.render_sizes,
        views=r.views,
        workers=args.workers,
        progress=sys.stderr,
    )
    val = render_echo(
        "val",
        max(1, args.val_samples // 2),
        size=r.input_size,
        views=r.views,
        workers=args.workers,
        progress=sys.stderr,
    )
    render_s = time.perf_counter() - t0
    network = build_network(r.architecture, 1, len(r.class_names))
    steps = len(train) // args.batch_size
    if steps < 1:
        raise ValueError(f"--samples {args.samples} is less than one batch of {args.batch_size}")
    result = train_segmentation(
        network,
        batches(train, r.normalization, batch_size=args.batch_size, seed=args.seed),
        fixed_batches(val, r.normalization),
        n_classes=len(r.class_names),
        steps_per_epoch=steps,
        config=config,
        checkpoint=out / "best.pt",
        progress=sys.stderr,
    )
    onnx_path = out / f"{r.name}.onnx"
    diff = export_onnx(result.network, onnx_path, r.input_size)
    n_params = sum(int(p.numel()) for p in result.network.parameters())
    training = {
        "command": command,
        "orstream_version": __version__,
        "seed": args.seed,
        "data": {
            "simulator": "orstream.sim.EchoSimulator(randomize=True)",
            "views": list(r.views),
            "train_seeds": [SPLIT_SEEDS["train"], SPLIT_SEEDS["train"] + len(train) // 2],
            "val_seeds": [SPLIT_SEEDS["val"], SPLIT_SEEDS["val"] + len(val) // 2],
            "test_seeds_from": SPLIT_SEEDS["test"],
            "frames_per_seed": 2,
            "train_frames": len(train),
            "val_frames": len(val),
            "render_sizes": list(r.render_sizes),
            "augmentation": "orstream._datasets.augment",
        },
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": f"AdamW lr {args.lr} wd {config.weight_decay}, warm-up "
        f"{config.warmup_steps} steps then cosine",
        "loss": "monai DiceCELoss(softmax)",
        "best_epoch": result.best_epoch,
        "val_dice": result.history[result.best_epoch - 1].val_dice,
        "parameters": n_params,
        "export_max_abs_diff": diff,
    }
    spec = ModelSpec(
        name=r.name,
        onnx_path=onnx_path,
        input_size=r.input_size,
        in_channels=1,
        class_names=r.class_names,
        normalization=r.normalization,
        architecture=r.architecture,
        sha256="",
        training=training,
        description=r.description,
    )
    write_sidecar(spec)
    spec = load_model(onnx_path)
    print(
        f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB, ORT vs torch "
        f"{diff:.1e}); scoring on fresh test seeds",
        file=sys.stderr,
    )
    test = evaluate(spec, samples=args.test_samples, progress=sys.stderr)
    report = {
        "training": training,
        "render_s": round(render_s, 1),
        "train_s": round(time.perf_counter() - t0 - render_s, 1),
        "history": result.history_json(),
        "test": test,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    _print_report(test)
    return 0
