"""Measure how much the tip confidence is worth (docs/models/fluoro-catheter.md and
docs/models/us-needle.md, "Confidence"): the AUROC of ``1 - confidence`` for frames whose tip
error is above 3 mm (or with no tip, or a false one), on fresh simulator runs.

    python scripts/tip_confidence.py fluoro --first 6000000 --runs 50 [--dose 20]
    python scripts/tip_confidence.py robot --first 6000000 --runs 20
    python scripts/tip_confidence.py needle --split test --seeds 600
    python scripts/tip_confidence.py real-us [--data ../shared/data]

``--model NAME|PATH.onnx`` scores another model than the shipped one (fluoro, robot, needle).

``fluoro``: ``fluoro_run`` test runs (anatomy, detector, collimation and contrast injections as
drawn; ``--dose`` replaces the drawn dose, photons per pixel), 60 frames each, the shipped
``fluoro-catheter`` with ``RoiTipTracker``. ``robot``: ``RobotFluoroSimulator`` runs (no
contrast), the catheter advanced at 4 mm/s. ``needle``: ``us-needle`` on 2 frames per seed of
the split at 160 rows. ``real-us``: the needle confidence on real ultrasound without needle
truth (the usgra-seg training images and the PLUS sequences): what a gate would see.
One JSON document on stdout. ONNX Runtime, 1 thread.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from orstream.kernels import detect_needles, load_backend, to_grey
from orstream.sim import (
    confidence_spread,
    fluoro_tip_confidence,
    needle_tip_confidence,
    render_needle,
    robot_fluoro_tip_confidence,
)
from orstream.stream import read_plus_sequence


def _real_us(data: Path) -> dict[str, Any]:
    backend = load_backend("us-needle", "onnxruntime", threads=1)
    out: dict[str, Any] = {}
    images = []
    for png in sorted((data / "usgra-seg" / "train" / "images").glob("*.png")):
        image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SystemExit(f"{png}: not a readable image")
        images.append(to_grey(image))
    out["usgra-seg train images"] = confidence_spread(
        [d.confidence for d in detect_needles(backend, images)]
    )
    for path in sorted((data / "plus-sequences").glob("*.igs.mha")):
        frames = read_plus_sequence(path).frames
        greys = [to_grey(np.asarray(f)) for f in frames]
        out[path.name] = confidence_spread([d.confidence for d in detect_needles(backend, greys)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("fluoro", "robot", "needle", "real-us"))
    parser.add_argument("--first", type=int, default=6_000_000, help="first simulator seed")
    parser.add_argument("--runs", type=int, default=50, help="fluoro/robot runs")
    parser.add_argument("--dose", type=float, default=None, help="fluoro dose (photons/px)")
    parser.add_argument("--split", default="test", help="needle split")
    parser.add_argument("--seeds", type=int, default=600, help="needle seeds (2 frames each)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--model", default=None, help="model name or PATH.onnx (default: the shipped one)"
    )
    args = parser.parse_args()
    seeds = range(args.first, args.first + args.runs)
    report: dict[str, Any]
    if args.what == "real-us":
        report = _real_us(args.data)
    elif args.what == "needle":
        backend = load_backend(args.model or "us-needle", "onnxruntime", threads=1)
        data = render_needle(args.split, args.seeds, frames_per_seed=2, rows=160, progress=None)
        report = needle_tip_confidence(backend, data)
    else:
        backend = load_backend(args.model or "fluoro-catheter", "onnxruntime", threads=1)
        if args.what == "robot":
            report = robot_fluoro_tip_confidence(backend, seeds)
        else:
            report = fluoro_tip_confidence(backend, seeds, dose=args.dose)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
