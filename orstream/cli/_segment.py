"""``orstream segment INPUT --model NAME --masks-out DIR``: per-frame class-index masks (PNG).

INPUT is a folder of images (one mask per image, same file stem, ``.png``), one image file, a
recording (``file:PATH`` or ``PATH.orsrec``: ``NNNN.png`` per frame in file order) or a DICOM
cine (``dicom:PATH`` or ``PATH.dcm``: ``NNNN.png`` per frame, read by
``orstream.stream.read_cine``). Masks are uint8 class indices (0
background, then the model's class names) at the input image's own size.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ..kernels import BACKENDS, load_backend, load_model, segment_images
from ._argtypes import positive_int
from ._errors import UsageError, missing_package_error

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


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


def _read_image(path: Path) -> npt.NDArray[Any]:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UsageError(f"cannot read {path} as an image")
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code) if image.shape[2] in (3, 4) else image[:, :, 0]
    return np.asarray(image)


def _folder(path: Path) -> tuple[list[str], Iterator[npt.NDArray[Any]]]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder {path}")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        raise UsageError(f"{path} has images that differ only in their suffix: masks would clash")
    return [f"{s}.png" for s in stems], (_read_image(p) for p in files)


def _recording(path: Path) -> Iterator[npt.NDArray[Any]]:
    """Frames of a recording, opened now (a bad file fails here), read lazily."""
    from ..stream import RecordingReader

    reader = RecordingReader(path)

    def frames() -> Iterator[npt.NDArray[Any]]:
        try:
            for frame in reader:
                yield np.array(frame.pixels)  # a copy: the reader's memory map closes after
        finally:
            reader.close()

    return frames()


def _dicom(path: Path) -> Iterator[npt.NDArray[Any]]:
    """Frames of a DICOM cine, decoded now (ValueError in one line if it cannot be)."""
    from ..stream import read_cine

    cine = read_cine(path)  # a Cine: frames uint8 (N, H, W)
    return iter(np.asarray(cine.frames))


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _clip_names() -> Iterator[str]:
    index = 0
    while True:
        yield f"{index:04d}.png"
        index += 1


def inputs(spec: str) -> tuple[str, Iterator[str], Iterator[npt.NDArray[Any]]]:
    """(kind, output file names, images) of INPUT; UsageError/OSError on what cannot be read."""
    for prefix, kind in (("file:", "recording"), ("dicom:", "dicom")):
        if spec.startswith(prefix):
            path = Path(spec[len(prefix) :])
            if not path.is_file():
                raise UsageError(f"no such {kind} file: {path}")
            images = _recording(path) if kind == "recording" else _dicom(path)
            return kind, _clip_names(), images
    path = Path(spec)
    if path.is_dir():
        names, images = _folder(path)
        return "folder", iter(names), images
    if not path.is_file():
        raise UsageError(f"no such file or folder: {spec}")
    if path.suffix.lower() == ".orsrec":
        return "recording", _clip_names(), _recording(path)
    if _is_dicom(path):
        return "dicom", _clip_names(), _dicom(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image", iter([f"{path.stem}.png"]), iter([_read_image(path)])
    raise UsageError(f"{spec}: not a folder, an image, a recording (.orsrec) or DICOM")


def run(args: argparse.Namespace) -> int:
    kind, names, images = inputs(args.input)
    spec = load_model(args.model)
    try:
        backend = load_backend(spec, args.backend, threads=args.threads)
    except ImportError as exc:  # a backend this machine cannot run: one line
        raise missing_package_error(exc) from exc
    except RuntimeError as exc:
        raise UsageError(str(exc)) from exc
    out: Path = args.masks_out
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    counts = np.zeros(spec.n_classes, np.int64)
    masks = segment_images(backend, images, batch_size=args.batch_size)
    for name, mask in zip(names, masks, strict=False):  # names of a clip never run out
        if not cv2.imwrite(str(out / name), mask):
            raise OSError(f"could not write {out / name}")
        counts += np.bincount(mask.ravel(), minlength=spec.n_classes)[: spec.n_classes]
        count += 1
    if count == 0:
        raise UsageError(f"{args.input} holds no frames")
    summary = {
        "input": args.input,
        "kind": kind,
        "model": spec.name,
        "backend": backend.name,
        "masks": count,
        "masks_out": str(out),
        "classes": {str(i): n for i, n in enumerate(spec.class_names)},
        "pixel_fraction": {
            n: round(float(c / max(1, counts.sum())), 5)
            for n, c in zip(spec.class_names, counts, strict=True)
        },
    }
    if args.json:
        print(json.dumps(summary))
    else:
        classes = ", ".join(f"{i} {n}" for i, n in enumerate(spec.class_names))
        print(f"wrote {count} mask(s) to {out} ({spec.name} on {backend.name}; {classes})")
    sys.stdout.flush()
    return 0
