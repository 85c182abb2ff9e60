"""Cross-validation of us-nerve-vessel on the usgra-seg training folder.

The 204 images are cut into five folds (``orstream.sim.usgra_folds``: near-duplicate groups
kept whole, fold 0 the fixed validation split). Each fold is held out once: a model is trained
on the other four with ``--keep last`` (the final epoch's weights, so no choice is made on the
held-out images) and scored on the held-out fold, each image at its own size. The pooled
per-image Dice over all 204 held-out predictions is the cross-validated figure. A *variant*
changes the network only (``VARIANTS``); everything else is the shipped recipe.

    python scripts/usgra_cv.py train --variants shipped,wide --epochs 60 --samples 1000 \\
        --device cuda --jobs 10 --out runs/usgra-cv
    python scripts/usgra_cv.py score runs/usgra-cv [--json]

``train`` runs every (variant, fold) as its own process (``one``), ``--jobs`` at a time, each
writing ``OUT/VARIANT/fold-K/`` (the ONNX, its sidecar, ``report.json``, ``log.txt``), then
prints the scores. Needs torch and MONAI (the train extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from orstream.kernels import TrainOptions, fit_and_export, summary_stats, unet
from orstream.sim import USGRA_FOLDS, training_task

VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": unet(16, res_units=1, norm="instance"),
    "wide": unet(24, res_units=1, norm="instance"),
    "deep": unet(16, res_units=2, norm="instance"),
}
"""Network of each variant (``orstream.kernels.unet``); "shipped" is the recipe's own."""
CLASSES = ("nerve", "vessel")


def _one(args: argparse.Namespace) -> int:
    import cv2

    cv2.setNumThreads(1)  # many trainings share the machine's cores
    task = training_task("us-nerve-vessel")
    recipe = dataclasses.replace(task.recipe, architecture=VARIANTS[args.variant])
    options = TrainOptions(
        samples=args.samples,
        batch_size=args.batch_size,
        seed=args.seed,
        threads=1,
        device=args.device,
        fold=args.fold,
        progress=sys.stderr,
    )
    command = (
        f"python scripts/usgra_cv.py one --variant {args.variant} --fold {args.fold} "
        f"--epochs {args.epochs} --samples {args.samples} --batch-size {args.batch_size} "
        f"--seed {args.seed} --device {args.device} --out {args.out}"
    )
    fit_and_export(
        dataclasses.replace(task, recipe=recipe),
        options,
        epochs=args.epochs,
        lr=2e-3,
        out=args.out,
        command=command,
        keep="last",
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    runs = [(v, k) for v in variants for k in range(USGRA_FOLDS)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    waiting, running, failed = list(runs), [], []
    t0 = time.perf_counter()
    while waiting or running:
        while waiting and len(running) < args.jobs:
            variant, fold = waiting.pop(0)
            out = args.out / variant / f"fold-{fold}"
            out.mkdir(parents=True, exist_ok=True)
            cmd = [
                sys.executable,
                __file__,
                "one",
                f"--variant={variant}",
                f"--fold={fold}",
                f"--epochs={args.epochs}",
                f"--samples={args.samples}",
                f"--batch-size={args.batch_size}",
                f"--seed={args.seed}",
                f"--device={args.device}",
                f"--out={out}",
            ]
            log = (out / "log.txt").open("w")
            running.append(
                ((variant, fold), subprocess.Popen(cmd, stdout=log, stderr=log, env=env))
            )
        time.sleep(1.0)
        for item in list(running):
            (variant, fold), proc = item
            if proc.poll() is not None:
                running.remove(item)
                status = "done" if proc.returncode == 0 else f"FAILED ({proc.returncode})"
                if proc.returncode:
                    failed.append((variant, fold))
                print(f"{variant} fold {fold}: {status} at {time.perf_counter() - t0:.0f} s")
    _print(score(args.out))
    return 1 if failed else 0


def score(root: Path) -> dict[str, Any]:
    """Per variant: each fold's mean Dice per class and the pooled per-image Dice over every
    held-out image (summary statistics), from ``root/VARIANT/fold-K/report.json``."""
    out: dict[str, Any] = {}
    for vdir in sorted(p for p in root.iterdir() if p.is_dir()):
        reports = sorted(vdir.glob("fold-*/report.json"))
        if not reports:
            continue
        folds, pooled = {}, {c: [] for c in CLASSES}
        for path in reports:
            report = json.loads(path.read_text())
            test = report["test"]
            folds[test["fold"]] = {
                "images": test["frames"],
                **{c: test["dice"][c]["mean"] for c in CLASSES},
                "train_s": report["train_s"],
            }
            for item in test["per_image"]:
                for c in CLASSES:
                    if item["dice"][c] is not None:
                        pooled[c].append(item["dice"][c])
        out[vdir.name] = {
            "folds": dict(sorted(folds.items())),
            "complete": len(folds) == USGRA_FOLDS,
            "pooled": {c: summary_stats(np.asarray(v, np.float64)) for c, v in pooled.items()},
        }
    return out


def _print(result: dict[str, Any]) -> None:
    for variant, r in result.items():
        print(f"{variant}{'' if r['complete'] else ' (incomplete)'}")
        for fold, f in r["folds"].items():
            print(
                f"  fold {fold} ({f['images']:3d} images): nerve {f['nerve']:.3f} "
                f"vessel {f['vessel']:.3f}  ({f['train_s']:.0f} s)"
            )
        p = r["pooled"]
        print(
            f"  pooled ({p['nerve']['n']} images): nerve {p['nerve']['mean']:.3f} "
            f"(median {p['nerve']['median']:.3f}), vessel {p['vessel']['mean']:.3f} "
            f"(median {p['vessel']['median']:.3f})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    for name in ("train", "one"):
        p = sub.add_parser(name)
        p.add_argument("--epochs", type=int, default=60)
        p.add_argument("--samples", type=int, default=1000)
        p.add_argument("--batch-size", type=int, default=16)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="cpu")
        p.add_argument("--out", type=Path, default=Path("runs/usgra-cv"))
    train = sub.choices["train"]
    train.add_argument("--variants", default="shipped")
    train.add_argument("--jobs", type=int, default=1)
    one = sub.choices["one"]
    one.add_argument("--variant", choices=sorted(VARIANTS), default="shipped")
    one.add_argument("--fold", type=int, default=0)
    sc = sub.add_parser("score")
    sc.add_argument("root", type=Path)
    sc.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.verb == "one":
        return _one(args)
    if args.verb == "train":
        return _train(args)
    result = score(args.root)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
