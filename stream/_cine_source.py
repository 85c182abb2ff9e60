"""A cine played live: ``dicom:PATH`` and ``png:DIR`` source URIs.

Options (query keys): ``stream`` (stream id; default the file stem or folder name),
``modality`` (``us`` by default; echo, fluoro, us, other), ``spacing_mm`` (pixel spacing in
mm, both axes; overrides the file's), ``fps`` (frames/s; overrides the file's frame time, and
is needed for a PNG folder or a DICOM file without one), ``loop`` (``1``: replay forever).
Frames are grey uint8 (H, W) as :func:`read_cine` / :func:`read_png_folder` give them, paced
by :class:`PacedSource`.
"""

from __future__ import annotations

from pathlib import Path

from ._dicom import Cine, read_cine, read_png_folder
from ._frame import Modality
from ._paced import PacedSource
from ._registry import ResourceUri, register_source
from ._wire import MAX_STREAM_ID_CHARS

_KEYS = frozenset({"stream", "modality", "spacing_mm", "fps", "loop"})


class CineSource(PacedSource):
    """A :class:`Cine` played as a live stream at its frame rate (``fps`` overrides it).

    ``spacing_mm`` ((row, col) mm) overrides the cine's calibration; with neither the frames
    say None (uncalibrated). ValueError when neither the cine nor ``fps`` gives a frame rate.
    ``cine`` keeps what was read (its ``source`` and ``notes``).
    """

    def __init__(
        self,
        cine: Cine,
        *,
        stream_id: str,
        modality: Modality | str = Modality.US,
        spacing_mm: tuple[float, float] | None = None,
        fps: float | None = None,
        loop: bool = False,
    ) -> None:
        rate = fps if fps is not None else cine.fps
        if rate is None:
            name = cine.source.split(":", 1)[0]
            raise ValueError(f"{name}: no frame rate in the file; give one (fps, ?fps=F)")
        super().__init__(
            list(cine.frames),
            rate,
            stream_id=stream_id,
            modality=modality,
            spacing_mm=spacing_mm if spacing_mm is not None else cine.spacing_mm,
            loop=loop,
        )
        self.cine = cine


def _open_cine(uri: ResourceUri, *, folder: bool) -> CineSource:
    uri.check_keys(_KEYS)
    if not uri.target:
        raise ValueError(f"{uri.text!r}: no path; expected {uri.scheme}:PATH")
    path = Path(uri.target)
    stream_id = uri.query.get("stream", path.name if folder else path.stem)
    if not 0 < len(stream_id) <= MAX_STREAM_ID_CHARS:
        raise ValueError(f"{uri.text!r}: stream must be 1-{MAX_STREAM_ID_CHARS} characters")
    modality = uri.query.get("modality", Modality.US.value)
    known = ", ".join(m.value for m in Modality)
    if modality not in {m.value for m in Modality}:
        raise ValueError(f"{uri.text!r}: modality must be one of {known}; got {modality!r}")
    loop = uri.flag("loop")
    fps: float | None = uri.number("fps")
    spacing: float | None = uri.number("spacing_mm")
    if folder and fps is None:
        raise ValueError(f"{uri.text!r}: a folder of PNG frames has no frame rate; add ?fps=F")
    try:
        cine = read_png_folder(path, fps, spacing) if folder else read_cine(path)
        return CineSource(
            cine,
            stream_id=stream_id,
            modality=modality,
            spacing_mm=None if spacing is None else (spacing, spacing),
            fps=fps,
            loop=loop,
        )
    except ValueError as exc:
        raise ValueError(f"{uri.text!r}: {exc}") from None


def _open_dicom(uri: ResourceUri) -> CineSource:
    """``dicom:PATH``: a single- or multi-frame ultrasound DICOM file, played live."""
    return _open_cine(uri, folder=False)


def _open_png(uri: ResourceUri) -> CineSource:
    """``png:DIR?fps=F``: a folder of PNG frames (in name order), played live."""
    return _open_cine(uri, folder=True)


register_source("dicom", _open_dicom)
register_source("png", _open_png)
