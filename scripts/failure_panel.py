"""Draw a model's worst cases for its model card (docs/models/*.md, "Known failure modes").

    python scripts/failure_panel.py fluoro-catheter docs/models/fluoro-catheter-worst.png
    python scripts/failure_panel.py us-needle docs/models/us-needle-worst.png
    python scripts/failure_panel.py us-nerve-vessel docs/models/us-nerve-vessel-worst.png

MODEL is a shipped model name or a PATH.onnx (with its sidecar); its family comes from its
name (``--family`` overrides). Truth is green, the model's output red.

``fluoro-catheter``: the ``RoiTipTracker`` on ``fluoro_run`` test runs (seeds ``--first`` ..,
``--runs`` runs of 60 frames, at the drawn dose; then ``--low-runs`` runs at dose
``--low-dose``): per run its worst frame by tip error, the ``--n`` worst runs at the drawn dose
and the ``--n-low`` worst at low dose, each with the crop around the true tip enlarged.
``us-needle``: the ``--n`` test frames (``render_needle("test", --seeds, 2 per seed, 160
rows)``) with the tip in view found furthest from it, then the ``--n-low`` usgra-seg images
(no needle) with the most confident false tip. ``us-nerve-vessel``: the ``--n`` validation
images of lowest mean nerve/vessel Dice (nerve outlines green/red, vessel cyan/magenta).
ONNX Runtime, 1 thread. Prints what it drew (JSON) on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from orstream.kernels import (
    dice_scores,
    image_confidence,
    load_backend,
    load_model,
    segment_images_by_class,
)
from orstream.sim import (
    false_needle_cases,
    fluoro_worst_cases,
    load_usgra,
    needle_worst_cases,
    render_needle,
    save_panel,
    usgra_split,
    worst_cases_panel,
)

FAMILIES = ("fluoro-catheter", "us-needle", "us-nerve-vessel")
NERVE_VESSEL_COLOURS = {1: ((0, 200, 0), (0, 0, 255)), 2: ((255, 255, 0), (255, 0, 255))}


def _nerve_vessel(backend: Any, out: Path, n: int) -> dict[str, Any]:
    data = load_usgra()
    val = data.subset(usgra_split(data)["val"])
    scored = list(segment_images_by_class(backend, val.images, batch_size=8))
    masks = [m for m, _ in scored]
    dice = np.concatenate([dice_scores(m, t, 3) for m, t in zip(masks, val.labels, strict=True)])
    mean_dice = np.nanmean(np.nan_to_num(dice, nan=np.nan), axis=1)
    conf = np.array([image_confidence(c) for _, c in scored])
    worst_cases_panel(
        val, masks, mean_dice, conf, out, n=n, colours=NERVE_VESSEL_COLOURS, size=256, columns=3
    )
    order = np.argsort(np.nan_to_num(mean_dice), kind="stable")[:n]
    return {
        "data": "usgra-seg/train, validation split (36 images)",
        "cases": [
            {
                "name": val.names[i],
                "dice_nerve": round(float(dice[i, 0]), 3),
                "dice_vessel": None if np.isnan(dice[i, 1]) else round(float(dice[i, 1]), 3),
                "confidence": {k: round(v, 3) for k, v in scored[i][1].items()},
            }
            for i in order
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="shipped model name or PATH.onnx")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--family", choices=FAMILIES, default=None)
    parser.add_argument("--first", type=int, default=6_000_000, help="first fluoro test seed")
    parser.add_argument("--runs", type=int, default=50, help="fluoro runs at the drawn dose")
    parser.add_argument("--low-runs", type=int, default=20, help="fluoro runs at low dose")
    parser.add_argument("--low-dose", type=float, default=20.0, help="photons per pixel")
    parser.add_argument("--seeds", type=int, default=300, help="needle test seeds")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n", type=int, default=4, help="worst cases (first kind)")
    parser.add_argument("--n-low", type=int, default=2, help="worst cases (second kind)")
    args = parser.parse_args()
    spec = load_model(args.model)
    family = args.family or next((f for f in FAMILIES if spec.name.startswith(f)), None)
    if family is None:
        raise SystemExit(f"model {spec.name!r}: give --family ({', '.join(FAMILIES)})")
    backend = load_backend(spec, "onnxruntime", threads=1)
    report: dict[str, Any] = {"model": spec.name, "family": family, "out": str(args.out)}
    if family == "us-nerve-vessel":
        report |= _nerve_vessel(backend, args.out, args.n)
        print(json.dumps(report))
        return
    if family == "fluoro-catheter":
        first = range(args.first, args.first + args.runs)
        low = range(args.first, args.first + args.low_runs)
        cases = fluoro_worst_cases(backend, first, n=args.n)
        cases += fluoro_worst_cases(backend, low, dose=args.low_dose, n=args.n_low)
        report["runs"] = {
            "drawn_dose": [first[0], first[-1]],
            f"dose_{args.low_dose:g}": [low[0], low[-1]],
        }
    else:
        test = render_needle("test", args.seeds, frames_per_seed=2, rows=160, progress=None)
        cases = needle_worst_cases(backend, test, n=args.n)
        data = load_usgra(args.data)
        cases += false_needle_cases(backend, data.names, data.images, n=args.n_low)
    # fluoroscopy's quantum noise does not compress: fewer grey levels keep the file small
    levels = 64 if family == "fluoro-catheter" else 128
    save_panel(cases, args.out, size=256, columns=2, grey_levels=levels)
    report["cases"] = [c.caption for c in cases]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
