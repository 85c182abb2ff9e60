"""``orstream measure``: echo measurements on a clip (DICOM, PNG folder or recording).

INPUT as :class:`orstream.pipelines.InputReader` reads it (a bare path or a ``dicom:``,
``png:`` or ``file:`` URI); see ``orstream.pipelines.measure_echo_clip``. JSON on stdout with
``--json``, an HTML report with ``--report``, a DICOM Structured Report with ``--sr`` (needs
highdicom).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..pipelines import (
    ECHO_MODEL,
    InputReader,
    check_target,
    echo_document,
    load_clip,
    measure_echo_clip,
    read_source,
    require_highdicom,
    write_report,
    write_sr,
)
from ._argtypes import positive_float
from ._errors import UsageError


def run(args: argparse.Namespace) -> int:
    if args.sr:  # before the measurement: a missing package or a bad path fails at once
        require_highdicom()
        check_target(Path(args.sr))
    with InputReader(args.input) as reader:
        cine, names = load_clip(reader, args.fps, args.spacing_mm)
    try:
        result, masks = measure_echo_clip(cine, args.backend, args.model)
    except RuntimeError as exc:  # a backend this machine cannot run: one line
        raise UsageError(str(exc)) from exc
    if args.masks_out:
        out = Path(args.masks_out)
        out.mkdir(parents=True, exist_ok=True)
        for name, mask in zip(names, masks, strict=True):
            if not cv2.imwrite(str(out / name), mask * np.uint8(255)):
                raise OSError(f"cannot write {out / name}")
    document = echo_document(result, cine, args.model)
    if args.report:
        write_report(Path(args.report), document, cine.frames, masks)
    if args.sr:
        header = read_source(str(reader.path)) if reader.kind == "dicom" else None
        write_sr(Path(args.sr), document, header)
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
    parser.add_argument(
        "--model",
        default=ECHO_MODEL,
        help=f"echo LV model (default {ECHO_MODEL}, CC BY-NC-SA weights; echo-lv: Apache-2.0, "
        "simulator-trained)",
    )
    parser.set_defaults(func=run)
