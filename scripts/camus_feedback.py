"""Build a clinician-feedback folder from CAMUS and score LV Dice before/after fine-tuning.

CAMUS (CC BY-NC-SA 4.0, /work/shared/data/camus) stays outside the repository, and so do the
feedback folder and the fine-tuned weights made from it; docs/feedback-finetune.md reports the
figures. Two steps:

    python scripts/camus_feedback.py make --out runs/camus-feedback [--items 24] [--seed 0]
    python scripts/camus_feedback.py score --feedback runs/camus-feedback \
        --model echo-lv --model runs/echo-lv-feedback/echo-lv.onnx [--json OUT.json]

``make`` picks ``--items`` CAMUS train patients (seeded) and one image of each (views and
phases in turn) and writes a ``redraw`` item per image in feedback format v1, as the OR
display would after a clinician redrew the LV: the mask is the shipped model's own mask with
its LV cavity replaced by the filled polygon of the expert's LV contour (``label`` 1). With
``--control`` it writes ``accept`` items of the same images with the model's own masks.
``score`` gives, per model, LV cavity Dice (and myocardium and left atrium, which the feedback
did not correct) on (a) the feedback frames themselves, (b) their held-out neighbours: the
same patients' three other images (other phase, other view), (c) the whole CAMUS val split.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from orstream.kernels import load_backend, load_model, segment_images
from orstream.stream import write_feedback_item

CAMUS = Path("/work/shared/data/camus")
KINDS = ("4CH_ED", "2CH_ES", "4CH_ES", "2CH_ED")
CAMUS_TO_MODEL = {1: 1, 2: 2, 3: 4}
"""CAMUS class -> echo-lv class: LV cavity, LV myocardium, left atrium."""
NAMES = {1: "lv_cavity", 2: "lv_myocardium", 3: "la"}


def _read(path: Path) -> np.ndarray[Any, Any]:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return np.asarray(image, np.uint8)


def _patients(split: Path) -> list[str]:
    names = {
        m.group(1)
        for p in (split / "images").glob("*.png")
        if (m := re.match(r"(patient\d+)_", p.name))
    }
    return sorted(names)


def feedback_patients(camus: Path, items: int, seed: int) -> list[tuple[str, str]]:
    """(patient, kind) of each feedback item: ``items`` seeded train patients, kinds in turn."""
    patients = _patients(camus / "train")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(patients), items, replace=False))
    return [(patients[j], KINDS[i % len(KINDS)]) for i, j in enumerate(chosen)]


def make(args: argparse.Namespace) -> None:
    spec = load_model("echo-lv")
    backend = load_backend(spec, "onnxruntime")
    picks = feedback_patients(args.camus, args.items, args.seed)
    args.out.mkdir(parents=True, exist_ok=False)
    for seq, (patient, kind) in enumerate(picks):
        name = f"{patient}_{kind}.png"
        image = _read(args.camus / "train" / "images" / name)
        truth = _read(args.camus / "train" / "masks" / name)
        predicted = next(iter(segment_images(backend, [image])))
        contours, _ = cv2.findContours(
            (truth == 1).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        polygon = max(contours, key=cv2.contourArea)[:, 0, :]
        drawn = np.zeros_like(truth)
        cv2.fillPoly(drawn, [polygon], 1)
        mask = np.where(predicted == 1, 0, predicted).astype(np.uint8)
        mask[drawn == 1] = 1
        if args.control:  # the clinician accepts the model's own mask: nothing corrected
            mask = np.asarray(predicted, np.uint8)
        write_feedback_item(
            args.out,
            image,
            mask,
            {
                "verdict": "accept" if args.control else "redraw",
                "model": "echo-lv",
                "modality": "echo",
                "stream_id": "camus",
                "seq": seq,
                "t_capture_ns": 0,
                "spacing_mm": None,
                "label": None if args.control else 1,
                "polygon_px": None if args.control else polygon.tolist(),
                "tip_px": None,
                "created_ns": seq,
                "source": name,
            },
        )
    print(f"wrote {len(picks)} {'accept' if args.control else 'redraw'} items to {args.out}")


def _dice(pred: np.ndarray[Any, Any], truth: np.ndarray[Any, Any]) -> float:
    inter = float(np.logical_and(pred, truth).sum())
    total = float(pred.sum() + truth.sum())
    return 2.0 * inter / total if total else float("nan")


def _lv_dice(backend: Any, images: list[Any], truths: list[Any]) -> np.ndarray[Any, Any]:
    masks = list(segment_images(backend, images, batch_size=32))
    return np.array([_dice(m == 1, t == 1) for m, t in zip(masks, truths, strict=True)])


def _paired(after: np.ndarray[Any, Any], before: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Per-frame LV Dice change: mean with a bootstrap 95 % interval (seeded), share better."""
    delta = after - before
    rng = np.random.default_rng(0)
    means = [float(np.nanmean(rng.choice(delta, len(delta)))) for _ in range(2000)]
    return {
        "mean_change": round(float(np.nanmean(delta)), 4),
        "ci95": [round(float(np.percentile(means, q)), 4) for q in (2.5, 97.5)],
        "frames_better": int(np.sum(delta > 0)),
        "frames_worse": int(np.sum(delta < 0)),
    }


def _score(backend: Any, images: list[Any], truths: list[Any]) -> dict[str, Any]:
    masks = list(segment_images(backend, images, batch_size=32))
    out: dict[str, Any] = {"frames": len(images)}
    for camus_class, model_class in CAMUS_TO_MODEL.items():
        d = np.array(
            [_dice(m == model_class, t == camus_class) for m, t in zip(masks, truths, strict=True)]
        )
        out[NAMES[camus_class]] = {
            "mean": round(float(np.nanmean(d)), 4),
            "median": round(float(np.nanmedian(d)), 4),
            "p5": round(float(np.nanpercentile(d, 5)), 4),
        }
    return out


def _load(split: Path, names: list[str]) -> tuple[list[Any], list[Any]]:
    return [_read(split / "images" / n) for n in names], [_read(split / "masks" / n) for n in names]


def score(args: argparse.Namespace) -> None:
    fed = []
    for item in sorted(p for p in args.feedback.iterdir() if p.is_dir()):
        fed.append(json.loads((item / "feedback.json").read_text())["source"])
    patients = sorted({n.split("_")[0] for n in fed})
    neighbours = [f"{p}_{k}.png" for p in patients for k in KINDS if f"{p}_{k}.png" not in fed]
    val = sorted(p.name for p in (args.camus / "val" / "images").glob("*.png"))
    sets = {
        "feedback_frames": _load(args.camus / "train", fed),
        "held_out_neighbours": _load(args.camus / "train", neighbours),
        "val_split": _load(args.camus / "val", val),
    }
    report: dict[str, Any] = {}
    first: dict[str, Any] = {}
    for model in args.model:
        spec = load_model(model)
        backend = load_backend(spec, "onnxruntime", threads=args.threads)
        report[model] = {
            "sha256": spec.sha256,
            **{k: _score(backend, *v) for k, v in sets.items()},
        }
        lv = {k: _lv_dice(backend, *v) for k, v in sets.items()}
        if first:
            report[model]["lv_change_vs_first"] = {k: _paired(lv[k], first[k]) for k in sets}
            print(
                f"{model}: per-frame LV Dice change vs {args.model[0]}: "
                + "; ".join(f"{k} {v}" for k, v in report[model]["lv_change_vs_first"].items())
            )
        else:
            first = lv
        for k in sets:
            s = report[model][k]
            print(
                f"{model:45s} {k:20s} n={s['frames']:3d} LV Dice mean {s['lv_cavity']['mean']:.4f} "
                f"median {s['lv_cavity']['median']:.4f} p5 {s['lv_cavity']['p5']:.4f}; "
                f"myo {s['lv_myocardium']['mean']:.4f}; LA {s['la']['mean']:.4f}"
            )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--camus", type=Path, default=CAMUS)
    sub = parser.add_subparsers(dest="step", required=True)
    mk = sub.add_parser("make", help="write the feedback folder")
    mk.add_argument("--out", type=Path, required=True)
    mk.add_argument("--items", type=int, default=24)
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument(
        "--control",
        action="store_true",
        help="write accept items with the model's own masks instead (the control: same images, "
        "no correction)",
    )
    mk.set_defaults(func=make)
    sc = sub.add_parser("score", help="LV Dice of each model on the feedback frames and beyond")
    sc.add_argument("--feedback", type=Path, required=True)
    sc.add_argument("--model", action="append", required=True)
    sc.add_argument("--threads", type=int, default=2)
    sc.add_argument("--json", type=Path, default=None)
    sc.set_defaults(func=score)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
