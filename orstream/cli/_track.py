"""``orstream track INPUT --model fluoro-catheter``: the catheter tip in every frame of a clip.

INPUT is a folder of 8- or 16-bit PNG frames, a DICOM cine or a recording
(:func:`orstream.pipelines.load_clip`). The model's tip heatmap drives
:class:`~orstream.kernels.RoiTipTracker` (:func:`orstream.pipelines.track_clip`). Per frame:
``index`` and the live fluoro pipeline's :class:`~orstream.pipelines.TipResult` mapping:
``found``, ``x_px``, ``y_px`` (column, row; pixel centres at integers), ``x_mm``, ``y_mm`` (px
times the spacing; null without a calibration or a track), ``confidence`` (0..1: the track's,
discounted by its position uncertainty, see ``RoiTipTracker``; positions are null while there
is no track) and ``source`` (the tracker pass that gave it).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..kernels import load_backend, load_model
from ..pipelines import load_clip, track_clip
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


def run(args: argparse.Namespace) -> int:
    cine, _ = load_clip(args.input, args.fps, args.spacing_mm, folder_needs=())
    spec = load_model(args.model)
    fps = cine.fps or DEFAULT_FPS
    try:
        backend = load_backend(spec, args.backend, threads=args.threads)
        t0 = time.perf_counter()
        tips = track_clip(cine, backend, fps)
    except ImportError as exc:
        raise missing_package_error(exc) from exc
    except RuntimeError as exc:
        raise UsageError(str(exc)) from exc
    seconds = time.perf_counter() - t0
    frames = [{"index": index, **tip.to_json()} for index, tip in enumerate(tips)]
    sp = cine.spacing_mm
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
