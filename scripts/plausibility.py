"""Measure the anatomical plausibility checks (``orstream.kernels.lv_plausibility``,
``needle_plausibility``; docs/models/echo-lv-camus.md, echo-lv.md, us-needle.md).

    python scripts/plausibility.py thresholds [--data ../shared/data]
    python scripts/plausibility.py echo --model echo-lv-camus [--data ../shared/data]
    python scripts/plausibility.py needle [--seeds 300]
    python scripts/plausibility.py real-us [--data ../shared/data]

``thresholds``: the check figures on the truth: CAMUS **train** expert masks and the
simulator's needle masks and tips of the us-needle validation seeds (where the thresholds
come from). ``echo``: the model on CAMUS **val** (each image at 224 x 224): per check, the
frames it flags and their LV Dice; precision and recall of "implausible" for frames with LV
Dice below 0.8 and 0.9; the confidence AUROC (right = Dice >= 0.8, and >= 0.9) raw and with
implausible frames' confidence scaled by 1 - k. ``needle``: us-needle on the test seeds (2
frames per seed, 160 rows): how often the check flags a detection (a non-empty mask) and
how many flagged and unflagged detections are wrong (tip more than 3 mm off or no tip in
view, or needle Dice below 0.5). ``real-us``: us-needle on the usgra-seg images (no needle:
every needle pixel is false). One JSON document on stdout. ONNX Runtime, 1 thread.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from orstream.kernels import (
    LV_CHECKS,
    NEEDLE_CHECKS,
    auroc,
    detect_needles,
    load_backend,
    lv_plausibility,
    lv_shape_figures,
    needle_plausibility,
    needle_shape_figures,
    segment_images_scored,
    to_grey,
)
from orstream.sim import load_camus, render_needle

ECHO_LABELS = ("background", "lv_cavity", "lv_myocardium", "rv", "la", "ra")
PENALTIES = (0.0, 0.05, 0.1, 0.25, 1.0)


def _spread(rows: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"frames": len(rows)}
    for key in sorted({k for r in rows for k in r}):
        v = np.array([r[key] for r in rows if key in r], np.float64)
        q = np.quantile(v, [0.0, 0.001, 0.01, 0.5, 0.99, 0.999, 1.0])
        out[key] = {
            "n": len(v),
            **dict(
                zip(
                    ("min", "q001", "q01", "median", "q99", "q999", "max"),
                    (round(float(x), 4) for x in q),
                    strict=True,
                )
            ),
        }
    return out


def _dice(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def _thresholds(data: Path) -> dict[str, Any]:
    camus = load_camus("train", data)
    lv = [lv_shape_figures(m, ECHO_LABELS) for m in camus.labels]
    needles = render_needle("val", 200, frames_per_seed=2, rows=160, progress=None)
    nd = []
    for mask, tip in zip(needles.masks, needles.tips, strict=True):
        found = tuple(float(v) for v in tip) if np.isfinite(tip).all() else None
        nd.append(needle_shape_figures(mask, found))  # type: ignore[arg-type]
    return {"camus_train_truth": _spread(lv), "needle_val_truth": _spread(nd)}


def _share(sel: npt.NDArray[np.bool_], of: npt.NDArray[np.bool_]) -> float | None:
    return round(float(sel[of].mean()), 4) if of.any() else None


def _mean(v: npt.NDArray[np.float64]) -> float | None:
    return round(float(v.mean()), 4) if len(v) else None


def _echo(model: str, data: Path) -> dict[str, Any]:
    camus = load_camus("val", data)
    backend = load_backend(model, "onnxruntime", threads=1)
    lv_class = backend.model.class_names.index("lv_cavity")
    labels = backend.model.class_names
    dice, conf, failed, ran = [], [], [], []
    for (mask, scores), truth in zip(
        segment_images_scored(backend, list(camus.images), lv_class), camus.labels, strict=True
    ):
        verdict = lv_plausibility(mask, labels)
        dice.append(_dice(mask == lv_class, truth == 1))
        conf.append(scores["confidence"])
        failed.append(set(verdict.failed))
        ran.append(set(verdict.checked))
    d, c = np.array(dice), np.array(conf)
    flagged = np.array([bool(f) for f in failed])
    report: dict[str, Any] = {"model": model, "frames": len(d), "checks": {}}
    for name in (*LV_CHECKS, "any"):
        sel = flagged if name == "any" else np.array([name in f for f in failed])
        report["checks"][name] = {
            "ran": len(d) if name == "any" else sum(name in r for r in ran),
            "flagged": int(sel.sum()),
            "dice_flagged_mean": _mean(d[sel]),
            "dice_unflagged_mean": _mean(d[~sel]),
        }
    for bad_below in (0.8, 0.9):
        bad = d < bad_below
        key = f"dice_below_{bad_below}"
        report[key] = {
            "bad_frames": int(bad.sum()),
            "precision": _share(bad, flagged),
            "recall": _share(flagged, bad),
            "auroc": {
                f"penalty_{k}": round(auroc(c * np.where(flagged, 1.0 - k, 1.0), ~bad), 4)
                for k in PENALTIES
            },
        }
    report["worst"] = [
        {"name": camus.names[i], "dice": round(float(d[i]), 3), "failed": sorted(failed[i])}
        for i in np.argsort(d)[:8]
    ]
    return report


def _needle_rows(images: Iterable[npt.NDArray[np.uint8]]) -> list[dict[str, Any]]:
    backend = load_backend("us-needle", "onnxruntime", threads=1)
    rows = []
    for det in detect_needles(backend, list(images)):
        verdict = needle_plausibility(det.mask, det.tip if det.found else None)
        rows.append({"det": det, "verdict": verdict})
    return rows


def _by_check(rows: list[dict[str, Any]], sel: npt.NDArray[np.bool_]) -> dict[str, int]:
    return {
        c: int(sum(c in r["verdict"].failed for r, s in zip(rows, sel, strict=True) if s))
        for c in NEEDLE_CHECKS
    }


def _needle_counts(rows: list[dict[str, Any]], wrong: npt.NDArray[np.bool_]) -> dict[str, Any]:
    has = np.array([bool(r["det"].mask.any()) for r in rows])
    found = np.array([r["det"].found for r in rows])
    flagged = np.array([not r["verdict"].ok for r in rows])
    out: dict[str, Any] = {"frames": len(rows)}
    for name, sel in (("mask_not_empty", has), ("tip_found", found)):
        out[name] = {
            "frames": int(sel.sum()),
            "flagged": int((sel & flagged).sum()),
            "flagged_wrong": int((sel & flagged & wrong).sum()),
            "unflagged_wrong": int((sel & ~flagged & wrong).sum()),
            "wrong": int((sel & wrong).sum()),
            "by_check": _by_check(rows, sel),
            "right_by_check": _by_check(rows, sel & ~wrong),
        }
    return out


def _needle(seeds: int) -> dict[str, Any]:
    data = render_needle("test", seeds, frames_per_seed=2, rows=160, progress=None)
    rows = _needle_rows(data.images)
    wrong = []
    for r, mask, tip, sp in zip(rows, data.masks, data.tips, data.spacing_mm, strict=True):
        det = r["det"]
        visible = bool(np.isfinite(tip).all())
        err = float(np.hypot(*(np.array(det.tip) - tip))) * sp if visible else np.inf
        wrong.append((det.found and err > 3.0) or _dice(det.mask != 0, mask != 0) < 0.5)
    out = _needle_counts(rows, np.array(wrong))
    out["wrong_means"] = "tip found > 3 mm off or with no tip in view, or needle Dice < 0.5"
    return out


def _real_us(data: Path) -> dict[str, Any]:
    images = []
    for png in sorted((data / "usgra-seg" / "train" / "images").glob("*.png")):
        image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SystemExit(f"{png}: not a readable image")
        images.append(to_grey(image))
    rows = _needle_rows(images)
    out = _needle_counts(rows, np.ones(len(rows), bool))
    out["wrong_means"] = "every needle pixel (no needle in these images)"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("thresholds", "echo", "needle", "real-us"))
    parser.add_argument("--model", default="echo-lv-camus", help="echo model")
    parser.add_argument("--seeds", type=int, default=300, help="needle test seeds (2 frames each)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    if args.what == "thresholds":
        report = _thresholds(args.data)
    elif args.what == "echo":
        report = _echo(args.model, args.data)
    elif args.what == "needle":
        report = _needle(args.seeds)
    else:
        report = _real_us(args.data)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
