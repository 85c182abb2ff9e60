"""``orstream measure``: echo measurements on a clip (DICOM, PNG folder or recording).

The echo-lv model segments the LV cavity in every frame; the kernels measure area, volume
(method of discs, 20 discs; area-length beside it), find ED and ES, and give per-beat EDV, ESV
and EF, their means over beats and the heart rate. JSON on stdout with ``--json``, an HTML
report with ``--report``, a DICOM Structured Report with ``--sr`` (needs highdicom).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..kernels import ClipMeasurement, load_backend, measure_clip, segment_images
from ..pipelines._clips import load_clip
from ..pipelines._report import write_report
from ..pipelines._sr import check_target, read_source, require_highdicom, write_sr
from ..stream import Cine
from ._argtypes import positive_float
from ._errors import UsageError, missing_package_error

MODEL = "echo-lv"
METHOD = "single-plane method of discs (20 discs) on echo-lv LV cavity masks"


def measure(cine: Cine, backend: str = "auto") -> tuple[ClipMeasurement, list[Any]]:
    """Measurements of ``cine`` and its (H, W) uint8 LV masks (1 = cavity)."""
    if cine.spacing_mm is None:
        raise UsageError(f"{cine.source}: no pixel spacing in the file; give --spacing-mm")
    if not cine.fps:
        raise UsageError(f"{cine.source}: no frame rate in the file; give --fps")
    try:
        model = load_backend(MODEL, backend)
    except ImportError as exc:  # a backend this machine cannot run: one line
        raise missing_package_error(exc) from exc
    except RuntimeError as exc:
        raise UsageError(str(exc)) from exc
    lv_class = model.model.class_names.index("lv_cavity")
    masks = [(mask == lv_class).astype(np.uint8) for mask in segment_images(model, cine.frames)]
    return measure_clip(masks, cine.spacing_mm, cine.fps), masks


def to_document(result: ClipMeasurement, cine: Cine) -> dict[str, Any]:
    """The command's JSON: the contract's keys first, the kernels' details after them."""
    clip = result.to_json()
    return {
        "frames": [
            {
                "index": f["index"],
                "t_s": f["t_s"],
                "lv_area_mm2": f["area_mm2"],
                "lv_volume_ml": f["volume_discs_ml"],
                "quality": f["flags"] or ["ok"],
            }
            for f in clip["frames"]
        ],
        "beats": [
            {
                "ed_frame": b["ed_index"],
                "es_frame": b["es_index"],
                "edv_ml": b["edv_ml"],
                "esv_ml": b["esv_ml"],
                "ef": b["ef"],
                "quality": b["flags"] or ["ok"],
            }
            for b in clip["beats"]
        ],
        "ef": clip["ef"],
        "heart_rate_bpm": clip["hr_bpm"],
        "method": METHOD,
        "edv_ml": clip["edv_ml"],
        "esv_ml": clip["esv_ml"],
        "ef_area_length": clip["ef_area_length"],
        "fps": cine.fps,
        "spacing_mm": list(cine.spacing_mm) if cine.spacing_mm else None,
        "input": cine.source,
        "notes": list(cine.notes),
    }


def run(args: argparse.Namespace) -> int:
    if args.sr:  # before the measurement: a missing package or a bad path fails at once
        require_highdicom()
        check_target(Path(args.sr))
    cine, names = load_clip(args.input, args.fps, args.spacing_mm)
    result, masks = measure(cine, args.backend)
    if args.masks_out:
        out = Path(args.masks_out)
        out.mkdir(parents=True, exist_ok=True)
        for name, mask in zip(names, masks, strict=True):
            if not cv2.imwrite(str(out / name), mask * np.uint8(255)):
                raise OSError(f"cannot write {out / name}")
    document = to_document(result, cine)
    if args.report:
        write_report(Path(args.report), document, cine.frames, masks)
    if args.sr:
        write_sr(Path(args.sr), document, read_source(args.input))
    if args.json:
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        _print(document)
    return 0


def _print(d: dict[str, Any]) -> None:
    ef = "-" if d["ef"] is None else f"{d['ef'] * 100:.0f} %"
    hr = "-" if d["heart_rate_bpm"] is None else f"{d['heart_rate_bpm']:.0f} bpm"
    print(f"{d['input']}: {len(d['frames'])} frames at {d['fps']:.1f} fps; EF {ef}, HR {hr}")
    for i, b in enumerate(d["beats"], 1):
        print(
            f"  beat {i}: ED frame {b['ed_frame']} ({b['edv_ml']} ml), ES frame {b['es_frame']} "
            f"({b['esv_ml']} ml), EF {b['ef']}  {' '.join(b['quality'])}"
        )
    print(f"method: {d['method']}")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "measure", help="echo measurements on a clip: LV area and volume, EF, heart rate"
    )
    parser.add_argument("input", help="multi-frame ultrasound DICOM, folder of PNGs, recording")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--masks-out", metavar="DIR", help="one LV mask PNG per frame (255 = LV)")
    parser.add_argument("--report", metavar="PATH.html", help="an HTML report for the echo lab")
    parser.add_argument(
        "--sr",
        metavar="PATH.dcm",
        help="a DICOM Structured Report (TID 1500) of the measurements; needs highdicom",
    )
    parser.add_argument("--fps", type=positive_float, help="frames per second (overrides the file)")
    parser.add_argument(
        "--spacing-mm", type=positive_float, help="pixel spacing in mm (overrides the file)"
    )
    parser.add_argument(
        "--backend", default="auto", choices=("auto", "onnxruntime", "torch", "tensorrt")
    )
    parser.set_defaults(func=run)
