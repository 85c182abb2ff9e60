"""``orstream train seg`` and ``orstream eval seg``: train a segmentation model on its data and
export it; score a model on data its training never saw (Dice per class, tip error, frames/s).

``train seg --model NAME --out DIR`` writes ``DIR/NAME.onnx`` with its sidecar ``DIR/NAME.json``
(ready to copy into ``kernels/models/``), ``DIR/best.pt`` (the kept state dict) and
``DIR/report.json`` (settings, per-epoch history, test scores). What data each model learns
from is its task's business (``orstream.sim.training_task``); the training itself is
``orstream.kernels.fit_and_export``. ``train seg --model NAME --feedback DIR`` fine-tunes a
shipped model on a clinician feedback folder instead
(``orstream.pipelines.finetune_from_feedback``).
This module parses and prints only.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ..kernels import (
    BACKENDS,
    FeedbackTuneConfig,
    TrainOptions,
    fit_and_export,
    load_backend,
    load_model,
)
from ..pipelines import REPLAY_FRAMES, finetune_from_feedback
from ..sim import (
    TRAINING_TASKS,
    USGRA_FOLDS,
    evaluate_folder,
    parse_label_map,
    training_task,
)
from ._argtypes import positive_int
from ._errors import UsageError
from ._train_policy import register_policy
from ._train_report import print_report


def register(subparsers: Any) -> None:
    train = subparsers.add_parser("train", help="train a model on its simulator")
    kinds = train.add_subparsers(dest="kind", metavar="KIND", required=True)
    seg = kinds.add_parser("seg", help="a segmentation model (MONAI UNet, exported to ONNX)")
    seg.add_argument("--model", required=True, help=f"model to train ({', '.join(TRAINING_TASKS)})")
    seg.add_argument(
        "--epochs", type=positive_int, default=None, help="default 14; 8 with --feedback"
    )
    seg.add_argument("--samples", type=positive_int, default=8000, help="training frames")
    seg.add_argument("--val-samples", type=positive_int, default=400, help="validation frames")
    seg.add_argument("--test-samples", type=positive_int, default=600, help="test frames")
    seg.add_argument("--batch-size", type=positive_int, default=16)
    seg.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak AdamW learning rate (default 2e-3; 2e-4 with --feedback)",
    )
    seg.add_argument("--seed", type=int, default=0, help="weights init, shuffling, augmentation")
    seg.add_argument("--threads", type=positive_int, default=2, help="torch threads")
    seg.add_argument("--workers", type=positive_int, default=1, help="rendering processes")
    seg.add_argument(
        "--low-dose",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="fluoro-catheter: share of training runs rendered at 10-40 photons/px, below the "
        "simulator's 40-400 (default 0)",
    )
    seg.add_argument(
        "--device",
        default="cpu",
        help="torch device to train on: cpu (default), cuda, cuda:N; the ONNX is the same kind",
    )
    seg.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="weights kept: the best validation epoch's (default) or the last epoch's (no "
        "choice made on the held-out images: for cross-validation)",
    )
    add_fold_argument(seg)
    seg.add_argument("--out", type=Path, default=None, help="output folder (runs/MODEL)")
    seg.add_argument(
        "--init",
        default=None,
        metavar="MODEL",
        help="start from these weights (fine-tuning): a shipped model name or PATH.onnx of the "
        "same architecture; default: a fresh seeded init",
    )
    seg.add_argument(
        "--feedback",
        type=Path,
        default=None,
        metavar="DIR",
        help="fine-tune shipped model MODEL on this clinician feedback folder (redraw and accept "
        "items; reject items are counted only), with simulator frames replayed; default --out "
        "runs/MODEL-feedback",
    )
    seg.add_argument(
        "--replay",
        type=positive_int,
        default=REPLAY_FRAMES,
        help=f"with --feedback: simulator frames of the model's own task replayed "
        f"(default {REPLAY_FRAMES})",
    )
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
    es.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="score on DIR/images/*.png and DIR/masks/*.png (class indices, same names) "
        "instead of the model's own test data",
    )
    es.add_argument(
        "--labels",
        default=None,
        metavar="MAP",
        help="with --data: folder class -> model class, e.g. 1:1,2:2,3:4 (CAMUS to echo-lv); "
        "unnamed indices become background; default: as is",
    )
    es.add_argument(
        "--panel", type=Path, default=None, help="with --data: save the worst images (PNG)"
    )
    add_fold_argument(es)
    es.set_defaults(func=eval_seg)
    register_policy(kinds, ev_kinds)


def add_fold_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fold",
        type=int,
        default=0,
        help=f"us-nerve-vessel: the cross-validation fold of the training folder held out "
        f"(0 .. {USGRA_FOLDS - 1}; default 0, the fixed validation split)",
    )


def _check_fold(fold: int, model: str) -> None:
    """UsageError unless ``fold`` is 0, or a usgra-seg fold for us-nerve-vessel."""
    if fold and model != "us-nerve-vessel":
        raise UsageError("--fold applies to --model us-nerve-vessel only")
    if not 0 <= fold < USGRA_FOLDS:
        raise UsageError(f"--fold {fold}: the folds are 0 .. {USGRA_FOLDS - 1}")


def eval_seg(args: argparse.Namespace) -> int:
    spec = load_model(args.model)
    if (args.labels or args.panel) and args.data is None:
        raise ValueError("--labels and --panel go with --data DIR")
    _check_fold(args.fold, spec.name if args.data is None else "--data")
    labels = parse_label_map(args.labels) if args.labels else None
    task = training_task(spec.name) if args.data is None else None
    if args.backend in ("torch", "tensorrt"):  # a missing package fails before data is made
        load_backend(spec, args.backend)
    options = TrainOptions(
        test_samples=args.samples,
        size=args.size,
        backend=args.backend,
        threads=args.threads,
        speed_frames=args.speed_frames,
        fold=args.fold,
    )
    if task is None:
        report = evaluate_folder(spec, args.data, options, labels, args.panel)
    else:
        report = task.evaluate(spec, options)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report))
    else:
        print_report(spec.name if task is not None else "folder", report)
    return 0


def _check_device(name: str) -> None:
    """UsageError unless ``name`` is "cpu" or a CUDA device torch can see here, and unless
    torch (the ``train`` extra) is installed: before any data is made."""
    import re

    from ._errors import missing_package_error

    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise UsageError(f"--device {name}: use cpu, cuda or cuda:N")
    try:
        import torch
    except ImportError as exc:
        raise missing_package_error(exc) from exc
    if name == "cpu":
        return

    index = int(name.partition(":")[2] or 0)
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: torch sees no such CUDA GPU on this machine")


def train_seg(args: argparse.Namespace) -> int:
    if args.feedback is not None:
        return train_from_feedback(args)
    args.epochs = 14 if args.epochs is None else args.epochs
    args.lr = 2e-3 if args.lr is None else args.lr
    task = training_task(args.model)
    _check_device(args.device)
    if not 0.0 <= args.low_dose <= 1.0 or (args.low_dose and args.model != "fluoro-catheter"):
        raise UsageError("--low-dose takes a share in [0, 1], for --model fluoro-catheter only")
    _check_fold(args.fold, args.model)
    out: Path = args.out or Path("runs") / args.model
    command = (
        f"orstream train seg --model {args.model} --epochs {args.epochs} "
        f"--samples {args.samples} --val-samples {args.val_samples} "
        f"--test-samples {args.test_samples} --batch-size {args.batch_size} --lr {args.lr:g} "
        f"--seed {args.seed} --threads {args.threads} --workers {args.workers} "
        f"--out {shlex.quote(str(out))}"
        + (f" --init {shlex.quote(args.init)}" if args.init else "")
        + (f" --device {shlex.quote(args.device)}" if args.device != "cpu" else "")
        + (f" --low-dose {args.low_dose:g}" if args.low_dose else "")
        + (f" --fold {args.fold}" if args.fold else "")
        + (" --keep last" if args.keep == "last" else "")
    )
    init = load_model(args.init) if args.init else None
    options = TrainOptions(
        samples=args.samples,
        val_samples=args.val_samples,
        test_samples=args.test_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        workers=args.workers,
        threads=args.threads,
        device=args.device,
        low_dose=args.low_dose,
        fold=args.fold,
        progress=sys.stderr,
    )
    report = fit_and_export(
        task,
        options,
        epochs=args.epochs,
        lr=args.lr,
        out=out,
        command=command,
        init=init,
        keep=args.keep,
    )
    print_report(args.model, report["test"])
    return 0


def train_from_feedback(args: argparse.Namespace) -> int:
    """``train seg --feedback DIR``: fine-tune, then print what it learnt from and the Dice."""
    _check_device(args.device)
    out: Path = args.out or Path("runs") / f"{args.model}-feedback"
    config = FeedbackTuneConfig(
        epochs=8 if args.epochs is None else args.epochs,
        lr=2e-4 if args.lr is None else args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
    )
    command = (
        f"orstream train seg --model {shlex.quote(args.model)} "
        f"--feedback {shlex.quote(str(args.feedback))} --epochs {config.epochs} "
        f"--lr {config.lr:g} --replay {args.replay} --batch-size {config.batch_size} "
        f"--seed {config.seed} --threads {config.threads} --workers {args.workers} "
        f"--out {shlex.quote(str(out))}"
        + (f" --device {shlex.quote(args.device)}" if args.device != "cpu" else "")
    )
    report = finetune_from_feedback(
        args.model,
        args.feedback,
        out=out,
        config=config,
        replay_frames=args.replay,
        workers=args.workers,
        command=command,
        progress=sys.stderr,
    )
    t = report["training"]
    fb, verdicts = t["feedback"], t["feedback"]["verdicts"]
    print(
        f"{report['model']} fine-tuned on {fb['pairs']} feedback pair(s) from {fb['folder']} "
        f"(redraw {verdicts['redraw']}, accept {verdicts['accept']}; reject "
        f"{verdicts['reject']} and move_tip {verdicts['move_tip']} counted, not trained on; "
        f"{fb['skipped']} malformed or other-model item(s) skipped) with "
        f"{t['replay']['frames_per_epoch']} replayed simulator frames per epoch"
    )
    for part in ("feedback", "replay_val"):
        before, after = t["dice_before"][part], t["dice_after"][part]
        cells = ", ".join(
            f"{name} {_dice(before[name])} -> {_dice(after[name])}" for name in before
        )
        print(f"  Dice on {part.replace('_', ' ')}: {cells}")
    print(f"  best epoch {t['best_epoch']}/{config.epochs}; wrote {report['onnx']}")
    return 0


def _dice(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
