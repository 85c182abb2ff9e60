"""Clips for the offline commands: a multi-frame DICOM, a folder of PNG frames or a recording,
read whole into a :class:`~orstream.stream.Cine` (grey uint8 frames, spacing, frame rate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..kernels import to_grey
from ..stream import Cine, RecordingReader, png_frame_paths, read_cine, read_png_folder


def load_clip(
    path_text: str,
    fps: float | None,
    spacing_mm: float | None,
    *,
    folder_needs: tuple[str, ...] = ("fps", "spacing"),
) -> tuple[Cine, list[str]]:
    """The clip at ``path_text`` and a file name per frame (a folder's own PNG names, else
    ``NNNN.png``); ``fps`` and ``spacing_mm`` override the file's. A folder of PNGs carries
    neither: those named in ``folder_needs`` must then be given (ValueError)."""
    path = Path(path_text.removeprefix("file:"))
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    spacing = None if spacing_mm is None else (spacing_mm, spacing_mm)
    if path.is_dir():
        given = {"fps": fps is not None, "spacing": spacing is not None}
        if not all(given[k] for k in folder_needs):
            flags = " and ".join(f"--{'spacing-mm' if k == 'spacing' else k}" for k in folder_needs)
            raise ValueError(f"{path}: a folder of PNG frames needs {flags}")
        cine = read_png_folder(path, fps, spacing)
        return cine, [p.name for p in png_frame_paths(path)]
    if path_text.startswith("file:") or path.suffix == ".orsrec":
        cine = _recording_clip(path)
    else:
        cine = read_cine(path)
    cine = Cine(
        frames=cine.frames,
        spacing_mm=spacing or cine.spacing_mm,
        fps=fps or cine.fps,
        source=cine.source,
        notes=cine.notes,
    )
    return cine, [f"{i:04d}.png" for i in range(len(cine.frames))]


def _recording_clip(path: Path) -> Cine:
    with RecordingReader(path) as reader:
        frames = list(reader)
    if not frames:
        raise ValueError(f"{path}: the recording holds no frames")
    greys = [to_grey(f.pixels) for f in frames]
    if len({g.shape for g in greys}) != 1:
        raise ValueError(f"{path}: frames of different sizes cannot form one clip")
    times = np.array([f.t_capture_ns for f in frames], np.float64)
    span_s = (times[-1] - times[0]) / 1e9
    fps = (len(frames) - 1) / span_s if len(frames) > 1 and span_s > 0 else None
    return Cine(np.stack(greys), frames[0].spacing_mm, fps, f"recording {path.name}")
