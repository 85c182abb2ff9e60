"""``orstream segment INPUT --model NAME --masks-out DIR``: per-frame class-index masks (PNG).

INPUT is what :class:`orstream.pipelines.InputReader` reads: a folder of images (one mask per
image, same file stem, ``.png``), one image file, a recording (``file:PATH`` or
``PATH.orsrec``) or a DICOM cine (``dicom:PATH`` or ``PATH.dcm``), ``NNNN.png`` per frame of a
clip. Masks are uint8 class indices (0 background, then the model's class names) at the input
image's own size (:func:`orstream.pipelines.segment_input`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..kernels import BACKENDS, load_backend, load_model
from ..pipelines import InputReader, segment_input
from ._argtypes import positive_int
from ._errors import UsageError, missing_package_error


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "segment", help="per-frame class-index masks (PNG) for a folder, clip or recording"
    )
    p.add_argument(
        "input", metavar="INPUT", help="folder of images, an image, file:PATH.orsrec, or dicom:PATH"
    )
    p.add_argument("--model", required=True, help="shipped model name (echo-lv) or PATH.onnx")
    p.add_argument(
        "--masks-out",
        "--out",
        dest="masks_out",
        required=True,
        type=Path,
        metavar="DIR",
        help="the folder of masks to write",
    )
    p.add_argument("--backend", choices=("auto", *BACKENDS), default="auto")
    p.add_argument(
        "--threads", type=positive_int, default=1, help="inference threads (ONNX Runtime)"
    )
    p.add_argument("--batch-size", type=positive_int, default=16, metavar="N")
    p.add_argument("--json", action="store_true", help="a JSON summary on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with InputReader(args.input) as reader:
        spec = load_model(args.model)
        try:
            backend = load_backend(spec, args.backend, threads=args.threads)
        except ImportError as exc:  # a backend this machine cannot run: one line
            raise missing_package_error(exc) from exc
        except RuntimeError as exc:
            raise UsageError(str(exc)) from exc
        written = segment_input(reader, backend, args.masks_out, batch_size=args.batch_size)
    summary = {
        "input": args.input,
        "kind": reader.kind,
        "model": spec.name,
        "backend": backend.name,
        **written.to_json(),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        classes = ", ".join(f"{i} {n}" for i, n in enumerate(spec.class_names))
        print(
            f"wrote {written.masks} mask(s) to {written.masks_out} "
            f"({spec.name} on {backend.name}; {classes})"
        )
    sys.stdout.flush()
    return 0
