"""Cross-validation of us-nerve-vessel on the usgra-seg training folder.

The 204 images are cut into five folds (``orstream.sim.usgra_folds``: near-duplicate groups
kept whole, fold 0 the fixed validation split). Each fold is held out once: a model is trained
on the other four with ``--keep last`` (the final epoch's weights, so no choice is made on the
held-out images) and scored on the held-out fold, each image at its own size. The pooled
per-image Dice over all 204 held-out predictions is the cross-validated figure. A *variant*
changes the network only (``VARIANTS``); everything else is the shipped recipe.

    python scripts/usgra_cv.py train --variants base,deep --epochs 60 --samples 1000 \\
        --device cuda --jobs 10 --out runs/usgra-cv
    python scripts/usgra_cv.py score runs/usgra-cv [--json]
    python scripts/usgra_cv.py paired runs/usgra-cv deep base
    python scripts/usgra_cv.py ensemble runs/usgra-cv --variants base,deep [--flip]

``train`` runs every (variant, fold) as its own process (``one``), ``--jobs`` at a time, each
writing ``OUT/VARIANT/fold-K/`` (the ONNX, its sidecar, ``report.json``, ``log.txt``), then
prints the scores. ``paired`` compares two variants image by image (a bootstrap over
near-duplicate groups); ``ensemble`` scores the average of several variants' fold models the same
way (every fold by models that never saw it). Needs torch and MONAI (the train extra).
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
    "base": unet(16, res_units=1, norm="instance"),
    "wide": unet(24, res_units=1, norm="instance"),
    "deep": unet(16, res_units=2, norm="instance"),
}
"""Network of each variant (``orstream.kernels.unet``): "base" the network shipped until
2026-12-04, "deep" (two residual units per level) the one shipped since."""
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
            with (out / "log.txt").open("w") as log:  # the child keeps its own descriptor
                proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
            running.append(((variant, fold), proc))
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


def paired(root: Path, a: str, b: str, draws: int = 2000) -> dict[str, Any]:
    """Per class: mean Dice of variant ``a`` minus ``b`` over the held-out images both score,
    with a 95 % bootstrap interval that resamples near-duplicate groups (seed 0), from the
    two variants' ``report.json`` files."""
    from orstream.sim import load_usgra, near_duplicate_groups

    dice = {v: _per_image(root / v) for v in (a, b)}
    groups = near_duplicate_groups(load_usgra())
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"a": a, "b": b}
    for c in CLASSES:
        pairs = [
            [(dice[a][n][c], dice[b][n][c]) for n in g if n in dice[a] and n in dice[b]]
            for g in groups
        ]

        def diff(sample: list[list[tuple[float | None, float | None]]]) -> float:
            """Difference of the two means, each over the images it scores (as ``score``)."""
            xs = np.array([np.nan if x is None else x for g in sample for x, _ in g])
            ys = np.array([np.nan if y is None else y for g in sample for _, y in g])
            return float(np.nanmean(xs) - np.nanmean(ys))

        boots = [
            diff([pairs[i] for i in rng.integers(0, len(pairs), len(pairs))]) for _ in range(draws)
        ]
        low, high = np.percentile(boots, [2.5, 97.5])
        out[c] = {"difference": round(diff(pairs), 4), "ci95": [round(low, 4), round(high, 4)]}
    return out


def _per_image(vdir: Path) -> dict[str, dict[str, float | None]]:
    """{image name: {class: Dice or None}} over every held-out fold of one variant."""
    return {
        item["name"]: item["dice"]
        for path in sorted(vdir.glob("fold-*/report.json"))
        for item in json.loads(path.read_text())["test"]["per_image"]
    }


def ensemble(root: Path, variants: list[str], flip: bool) -> dict[str, Any]:
    """Pooled per-image Dice of the average softmax of ``variants``' fold models (each fold's
    images by the models that did not train on it; with ``flip`` each model also sees the
    image mirrored left-right and its output is mirrored back), from
    ``root/VARIANT/fold-K/us-nerve-vessel.onnx``."""
    from orstream.kernels import (
        class_probabilities,
        dice_scores,
        load_backend,
        load_model,
        to_model_input,
    )
    from orstream.kernels._backends_segment import logits_to_mask
    from orstream.sim import load_usgra, usgra_folds

    data = load_usgra()
    pooled: dict[str, list[float]] = {c: [] for c in CLASSES}
    for fold, names in enumerate(usgra_folds(data)):
        held = data.subset(names)
        probs = []
        for variant in variants:
            spec = load_model(root / variant / f"fold-{fold}" / "us-nerve-vessel.onnx")
            backend = load_backend(spec, "onnxruntime", threads=1)
            x = spec.preprocess(np.stack([to_model_input(i, spec.input_size) for i in held.images]))
            views = (
                [(x, False), (np.ascontiguousarray(x[..., ::-1]), True)] if flip else [(x, False)]
            )
            for inputs, mirrored in views:
                logits = backend.run(inputs)[:, : spec.n_classes]
                p = np.stack([class_probabilities(item) for item in logits])
                probs.append(p[..., ::-1] if mirrored else p)
        mean = np.mean(probs, axis=0)
        for p, image, truth in zip(mean, held.images, held.labels, strict=True):
            dice = dice_scores(logits_to_mask(p, image.shape), truth, len(CLASSES) + 1)[0]
            for c, name in enumerate(CLASSES):
                if not np.isnan(dice[c]):
                    pooled[name].append(float(dice[c]))
    return {
        "variants": variants,
        "flip": flip,
        "pooled": {c: summary_stats(np.asarray(v, np.float64)) for c, v in pooled.items()},
    }


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
    train.add_argument("--variants", default="base,deep")
    train.add_argument("--jobs", type=int, default=1)
    one = sub.choices["one"]
    one.add_argument("--variant", choices=sorted(VARIANTS), default="deep")
    one.add_argument("--fold", type=int, default=0)
    sc = sub.add_parser("score")
    sc.add_argument("root", type=Path)
    sc.add_argument("--json", action="store_true")
    pa = sub.add_parser("paired")
    pa.add_argument("root", type=Path)
    pa.add_argument("a")
    pa.add_argument("b")
    en = sub.add_parser("ensemble")
    en.add_argument("root", type=Path)
    en.add_argument("--variants", default="base,deep")
    en.add_argument("--flip", action="store_true")
    args = parser.parse_args()
    if args.verb == "one":
        return _one(args)
    if args.verb == "train":
        return _train(args)
    if args.verb == "paired":
        result = paired(args.root, args.a, args.b)
        for c in CLASSES:
            low, high = result[c]["ci95"]
            d = result[c]["difference"]
            print(f"{c}: {args.a} - {args.b} = {d:+.3f} [{low:+.3f}, {high:+.3f}]")
        return 0
    if args.verb == "ensemble":
        result = ensemble(args.root, args.variants.split(","), args.flip)
        p = result["pooled"]
        print(
            f"{'+'.join(result['variants'])}{' with flips' if args.flip else ''}: nerve "
            f"{p['nerve']['mean']:.3f}, vessel {p['vessel']['mean']:.3f} ({p['nerve']['n']} images)"
        )
        return 0
    result = score(args.root)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
