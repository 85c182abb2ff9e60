"""``orstream track INPUT --model fluoro-catheter``: the catheter tip in every frame of a clip.

INPUT is a folder of 8- or 16-bit PNG frames, a DICOM cine or a recording. The model's tip
heatmap drives :class:`~orstream.kernels.RoiTipTracker` (a crop around the predicted tip while
the track is confident, the whole frame otherwise). Per frame: ``index``, ``x_px``, ``y_px``
(column, row; pixel centres at integers), ``x_mm``, ``y_mm`` (px times the spacing; null
without a calibration) and ``confidence`` (the track's, 0..1; positions are null while there
is no track).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

from ..kernels import RoiTipTracker, load_backend, load_model
from ..pipelines import load_clip
from ._argtypes import positive_float, positive_int
from ._errors import UsageError, missing_package_error

DEFAULT_FPS = 15.0
"""Frame rate assumed for a folder of frames without ``--fps`` (a common fluoroscopy rate)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "track", help="tip tracking (catheter in fluoroscopy) over a clip: position per frame"
    )
    parser.add_argument("input", help="folder of PNG frames (8/16-bit), DICOM cine, recording")
    parser.add_argument("--model", default="fluoro-catheter", help="a model with a tip heatmap")
    parser.add_argument("--spacing-mm", type=positive_float, help="pixel spacing in mm")
    parser.add_argument(
        "--fps", type=positive_float, help=f"frames per second (folder default {DEFAULT_FPS:g})"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--backend", default="auto", choices=("auto", "onnxruntime", "torch", "tensorrt")
    )
    parser.add_argument("--threads", type=positive_int, default=2, help="inference threads")
    parser.set_defaults(func=run)


def _rounded(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def run(args: argparse.Namespace) -> int:
    cine, _ = load_clip(args.input, args.fps, args.spacing_mm, folder_needs=())
    spec = load_model(args.model)
    if spec.tip_channel is None:
        raise UsageError(f"model {spec.name} has no tip heatmap; choose a tracking model")
    try:
        backend = load_backend(spec, args.backend, threads=args.threads)
        tracker = RoiTipTracker(backend)
    except ImportError as exc:
        raise missing_package_error(exc) from exc
    except (RuntimeError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    if min(cine.frames.shape[1:]) < spec.input_size[0]:
        raise UsageError(
            f"{args.input}: frames of {cine.frames.shape[2]}x{cine.frames.shape[1]} px are "
            f"smaller than the model's {spec.input_size[0]} px input"
        )
    fps = cine.fps or DEFAULT_FPS
    sp = cine.spacing_mm
    frames = []
    t0 = time.perf_counter()
    for index, image in enumerate(cine.frames):
        est = tracker.step(image, index / fps)
        frames.append(
            {
                "index": index,
                "x_px": _rounded(est.x_px, 2),
                "y_px": _rounded(est.y_px, 2),
                "x_mm": None if sp is None else _rounded(est.x_px * sp[1], 3),
                "y_mm": None if sp is None else _rounded(est.y_px * sp[0], 3),
                "confidence": round(est.confidence, 3),
            }
        )
    seconds = time.perf_counter() - t0
    document = {
        "input": args.input,
        "model": spec.name,
        "backend": backend.name,
        "fps": fps,
        "spacing_mm": None if sp is None else list(sp),
        "frames_per_s": round(len(frames) / max(seconds, 1e-9), 1),
        "frames": frames,
    }
    if args.json:
        print(json.dumps(document, allow_nan=False))
    else:
        found = sum(f["x_px"] is not None for f in frames)
        print(
            f"{args.input}: {len(frames)} frames, tip found in {found}, "
            f"{document['frames_per_s']:.0f} frames/s ({spec.name} on {backend.name})"
        )
        for f in frames:
            where = "-" if f["x_px"] is None else f"({f['x_px']:.1f}, {f['y_px']:.1f}) px"
            print(f"  {f['index']:5d} {where}  confidence {f['confidence']:.2f}")
    return 0
