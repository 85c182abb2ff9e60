"""The offline commands' INPUT (``orstream segment``, ``track``, ``measure``), read one way.

:class:`InputReader` recognises an INPUT: a folder of images, one image, a recording or a
DICOM file, as a bare path or as the live source URIs of ``orstream run`` (``png:DIR``,
``file:PATH`` or ``orsrec:PATH``, ``dicom:PATH``; their ``?fps=F&spacing_mm=S`` override the
file's). It yields the frames lazily, each with its output file name. :func:`load_clip` reads
one whole into a :class:`~orstream.stream.Cine`; :func:`track_clip` and :func:`segment_input`
run a model over them.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Self

import cv2
import numpy as np
import numpy.typing as npt

from ..kernels import Backend, RoiTipTracker, segment_images_by_class, to_grey
from ..stream import Cine, RecordingReader, parse_uri, read_cine
from ._results import TipResult, tip_result

IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""Image files a folder INPUT is read for (others in it are left alone)."""

InputKind = Literal["folder", "image", "recording", "dicom"]
_SCHEMES: Final[dict[str, InputKind]] = {
    "png": "folder",
    "file": "recording",
    "orsrec": "recording",
    "dicom": "dicom",
}
_NEEDS_FLAG: Final = {"fps": "--fps", "spacing": "--spacing-mm"}


@dataclass(frozen=True, slots=True)
class InputFrame:
    """One frame of an INPUT. ``name``: the output file name (an image's stem + ``.png``, else
    ``NNNN.png`` by position); ``pixels`` as stored: (H, W) grey uint8 or uint16 from an image
    file (colour made grey), a recording's own pixels (a copy), (H, W) uint8 from a DICOM;
    ``t_capture_ns`` and ``spacing_mm`` ((row, col) mm) of a recorded frame, else None."""

    name: str
    pixels: npt.NDArray[Any]
    t_capture_ns: int | None = None
    spacing_mm: tuple[float, float] | None = None


class InputReader:
    """The INPUT named by ``text``, recognised and opened now: ValueError (one line) for one
    that is missing or cannot be read; a DICOM is decoded now, a recording opened now (and
    closed by :meth:`close` or ``with``), image files are read as the frames are pulled.

    ``kind``: ``folder``, ``image``, ``recording`` or ``dicom``; ``path``: the file or folder;
    ``fps`` (frames/s) and ``spacing_mm`` ((row, col) mm): the URI's or the file's, None when
    unknown (a recording's come with each :class:`InputFrame`); ``source``: what was read (no
    patient identifiers); ``notes``: decisions taken on the way. Iterating yields the frames.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.kind, self.path, fps, spacing = _recognise(text)
        self.fps, self.spacing_mm = fps, None if spacing is None else (spacing, spacing)
        self.source = self.path.name
        self.notes: tuple[str, ...] = ()
        self._files: list[Path] = [self.path]
        self._cine: Cine | None = None
        self._recording: RecordingReader | None = None
        if self.kind == "folder":
            self._files = _image_files(self.path)
            label = "PNG" if all(p.suffix.lower() == ".png" for p in self._files) else "image"
            self.source = f"{self.path.name}/: {len(self._files)} {label} frames"
        elif self.kind == "dicom":
            self._cine = read_cine(self.path)
            self.fps = self.fps or self._cine.fps
            self.spacing_mm = self.spacing_mm or self._cine.spacing_mm
            self.source, self.notes = self._cine.source, self._cine.notes
        elif self.kind == "recording":
            self._recording = RecordingReader(self.path)
            self.source = f"recording {self.path.name}"

    def __iter__(self) -> Iterator[InputFrame]:
        if self._cine is not None:
            for index, image in enumerate(self._cine.frames):
                yield InputFrame(f"{index:04d}.png", image)
        elif self._recording is not None:
            for index, frame in enumerate(self._recording):
                pixels = np.array(frame.pixels)  # a copy: the memory map closes after
                yield InputFrame(f"{index:04d}.png", pixels, frame.t_capture_ns, frame.spacing_mm)
        else:
            for path in self._files:
                yield InputFrame(f"{path.stem}.png", _read_image(path))

    def close(self) -> None:
        """Release an open recording. Idempotent."""
        if self._recording is not None:
            self._recording.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _recognise(text: str) -> tuple[InputKind, Path, float | None, float | None]:
    """(kind, path, fps, spacing mm) of an INPUT; fps and spacing from a URI's query."""
    scheme = text.partition(":")[0].lower()
    if scheme in _SCHEMES:
        uri = parse_uri(text)
        uri.check_keys({"fps", "spacing_mm"})
        if not uri.target:
            raise ValueError(f"{text!r}: no path; expected {uri.scheme}:PATH")
        kind, path = _SCHEMES[scheme], Path(uri.target)
        if not (path.is_dir() if kind == "folder" else path.is_file()):
            raise ValueError(f"{path}: no such {'folder' if kind == 'folder' else 'file'}")
        return kind, path, uri.number("fps"), uri.number("spacing_mm")
    path = Path(text)
    if path.is_dir():
        return "folder", path, None, None
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".orsrec":
        return "recording", path, None, None
    if suffix in (".dcm", ".dicom") or _has_dicom_preamble(path):
        return "dicom", path, None, None
    if suffix in IMAGE_SUFFIXES:
        return "image", path, None, None
    raise ValueError(
        f"{path}: not a folder, an image ({', '.join(IMAGE_SUFFIXES)}), a recording (.orsrec) "
        "or a DICOM file (no DICM preamble)"
    )


def _has_dicom_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _natural(path: Path) -> list[Any]:
    """Sort key of a file name with the numbers in it compared as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name.lower())]


def _image_files(folder: Path) -> list[Path]:
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural
    )
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        raise ValueError(f"{folder} has images that differ only in their suffix: names would clash")
    return files


def _read_image(path: Path) -> npt.NDArray[Any]:
    """(H, W) grey of an image file, at its own bit depth (colour and alpha made grey)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(
            f"cannot read {path} as an image: not an 8- or 16-bit PNG, JPEG, BMP or TIFF file"
        )
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code) if image.shape[2] in (3, 4) else image[:, :, 0]
    return np.asarray(image)


def load_clip(
    source: str | InputReader,
    fps: float | None,
    spacing_mm: float | None,
    *,
    folder_needs: tuple[str, ...] = ("fps", "spacing"),
) -> tuple[Cine, list[str]]:
    """The INPUT ``source`` (text, or an open :class:`InputReader`) whole, as a clip of grey
    uint8 (N, H, W) frames of one size, and its frames' output names. ``fps`` (frames/s) and
    ``spacing_mm`` override the input's; a recording's frame rate comes from its capture
    times, its spacing from its first frame. Image files carry neither: those named in
    ``folder_needs`` (``fps``, ``spacing``) must then be given (ValueError). 16-bit images are
    scaled to 8 bits by the bit depth the clip's largest value needs."""
    opened = InputReader(source) if isinstance(source, str) else nullcontext(source)
    with opened as reader:
        rate = fps or reader.fps
        spacing = reader.spacing_mm if spacing_mm is None else (spacing_mm, spacing_mm)
        if reader.kind in ("folder", "image"):
            given = {"fps": rate is not None, "spacing": spacing is not None}
            if not all(given[k] for k in folder_needs):
                what = "a folder of frames" if reader.kind == "folder" else "an image"
                flags = " and ".join(_NEEDS_FLAG[k] for k in folder_needs)
                raise ValueError(f"{reader.path}: {what} needs {flags}")
        frames = list(reader)
        if not frames:
            raise ValueError(f"{reader.path}: the {reader.kind} holds no frames")
        stack, notes = _grey_stack(reader, frames)
    source_text = reader.source
    if reader.kind in ("folder", "image"):
        source_text += f" {stack.shape[2]}x{stack.shape[1]}"
    if reader.kind == "recording":
        rate = rate or _recorded_fps(frames)
        spacing = spacing or frames[0].spacing_mm
    cine = Cine(np.ascontiguousarray(stack), spacing, rate, source_text, (*reader.notes, *notes))
    return cine, [f.name for f in frames]


def _grey_stack(
    reader: InputReader, frames: list[InputFrame]
) -> tuple[npt.NDArray[np.uint8], tuple[str, ...]]:
    """(N, H, W) uint8 of the frames and a note on how 16-bit images were made 8-bit."""
    greys = [to_grey(f.pixels) if reader.kind == "recording" else f.pixels for f in frames]
    first = greys[0]
    for frame, grey in zip(frames, greys, strict=True):
        if grey.shape != first.shape:
            raise ValueError(
                f"{reader.path}: frame {frame.name} is {grey.shape[1]}x{grey.shape[0]}, the "
                f"first {frames[0].name} {first.shape[1]}x{first.shape[0]}; "
                "all frames of a clip need one size"
            )
    stack = np.stack(greys)
    if stack.dtype == np.uint16:
        bits = max(8, int(stack.max()).bit_length())
        top = 2.0**bits - 1.0
        scaled = np.rint(stack.astype(np.float64) * (255.0 / top)).astype(np.uint8)
        return scaled, (f"16-bit frames scaled to 8 bits from {bits} significant bits",)
    if stack.dtype != np.uint8:
        return np.stack([to_grey(g) for g in greys]), ()
    return stack, ()


def _recorded_fps(frames: list[InputFrame]) -> float | None:
    """Frames/s of recorded frames from their capture times; None for one frame or no span."""
    times = np.array([f.t_capture_ns or 0 for f in frames], np.float64)
    span_s = (times[-1] - times[0]) / 1e9
    return (len(frames) - 1) / span_s if len(frames) > 1 and span_s > 0 else None


def track_clip(cine: Cine, backend: Backend, fps: float) -> list[TipResult]:
    """The tip in every frame of ``cine`` by :class:`~orstream.kernels.RoiTipTracker` on
    ``backend`` (a model with a tip heatmap), frame ``i`` at ``i / fps`` s; positions in px
    and, with the cine's spacing, mm. ValueError for a model without a tip heatmap or frames
    smaller than its input."""
    tracker = RoiTipTracker(backend)
    rows, cols = cine.frames.shape[1:]
    side = backend.model.input_size[0]
    if min(rows, cols) < side:
        raise ValueError(
            f"{cine.source}: frames of {cols}x{rows} px are smaller than the model's "
            f"{side} px input"
        )
    return [
        tip_result(tracker.step(image, index / fps), cine.spacing_mm)
        for index, image in enumerate(cine.frames)
    ]


@dataclass(frozen=True, slots=True)
class MaskSummary:
    """What :func:`segment_input` wrote: ``masks`` PNG files into ``masks_out``;
    ``class_pixels``: pixels of each class (``class_names`` order) over all masks;
    ``frames``: per mask its file name and confidence 0..1 per foreground class
    (``orstream.kernels.segment_images_by_class``)."""

    masks: int
    masks_out: Path
    class_names: tuple[str, ...]
    class_pixels: tuple[int, ...]
    frames: tuple[tuple[str, dict[str, float]], ...] = ()

    def to_json(self) -> dict[str, Any]:
        total = max(1, sum(self.class_pixels))
        return {
            "masks": self.masks,
            "masks_out": str(self.masks_out),
            "classes": {str(i): n for i, n in enumerate(self.class_names)},
            "pixel_fraction": {
                n: round(c / total, 5)
                for n, c in zip(self.class_names, self.class_pixels, strict=True)
            },
            "frames": [
                {"name": name, "confidence": {k: round(v, 4) for k, v in conf.items()}}
                for name, conf in self.frames
            ],
        }


def segment_input(
    reader: InputReader, backend: Backend, masks_out: Path, *, batch_size: int = 16
) -> MaskSummary:
    """Segment every frame of ``reader`` with ``backend`` and write each uint8 (H, W)
    class-index mask (0 background, then the model's classes; the frame's own size) as PNG
    ``masks_out/NAME``, ``batch_size`` frames at a time (a long clip never sits in memory),
    with each frame's confidence per class. ValueError for an input without frames, OSError
    for a mask that cannot be written."""
    model = backend.model
    masks_out.mkdir(parents=True, exist_ok=True)
    names: deque[str] = deque()

    def images() -> Iterator[npt.NDArray[Any]]:
        for frame in reader:
            names.append(frame.name)
            yield frame.pixels

    counts = np.zeros(model.n_classes, np.int64)
    frames: list[tuple[str, dict[str, float]]] = []
    for mask, conf in segment_images_by_class(backend, images(), batch_size=batch_size):
        path = masks_out / names.popleft()
        if not cv2.imwrite(str(path), mask):
            raise OSError(f"could not write {path}")
        counts += np.bincount(mask.ravel(), minlength=model.n_classes)[: model.n_classes]
        frames.append((path.name, conf))
    if not frames:
        raise ValueError(f"{reader.text} holds no frames")
    return MaskSummary(
        len(frames), masks_out, model.class_names, tuple(int(c) for c in counts), tuple(frames)
    )
