"""Read an ultrasound cine into grey frames with its calibration: DICOM files, PNG folders.

:func:`read_cine` decodes single- and multi-frame ultrasound DICOM with pydicom (uncompressed,
RLE and deflate natively; JPEG baseline/extended and JPEG 2000 through Pillow; JPEG-LS and
HTJ2K need pylibjpeg or gdcm, and say so). Colour becomes grey (ITU-R BT.601 luma) after YBR is
converted to RGB and a palette is applied; more than 8 bits are scaled to 8.

Calibration: the Sequence of Ultrasound Regions first. Candidates are 2D regions (spatial
format 1) whose physical units are cm (code 3) in x and y; tissue regions (data type 1) are
preferred, then the largest area wins; the other regions are named in ``Cine.notes``. A region
that does not fit the image (beyond the last row or column by more than one pixel) means the
pixels were resized or cropped after calibration: its spacing is then ignored, said in the
notes, and ``spacing_mm`` is None, because a wrong scale would be silently wrong by its square
in areas and by its cube in volumes. Otherwise Pixel Spacing (mm), otherwise None. The frame
rate: Frame Time (ms), else Cine Rate (frames/s), else the mean Frame Time Vector step (ms).

Nothing about the patient is read into the result: ``source`` names the file, the SOP class,
the transfer syntax and the colour space only.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

_CM = 3  # Physical Units X/Y Direction: 3 = cm
_TISSUE = 1  # Region Data Type: 1 = tissue
_2D = 1  # Region Spatial Format: 1 = 2D


@dataclass(frozen=True, eq=False)
class Cine:
    """A grey ultrasound clip. ``frames``: (N, H, W) uint8, C-contiguous; ``spacing_mm``:
    (row, col) pixel spacing in mm or None (uncalibrated); ``fps``: frames/s or None;
    ``source``: what was read (no patient identifiers); ``notes``: decisions taken on the way
    (calibration region chosen or ignored, colour conversion, timing tag used)."""

    frames: npt.NDArray[np.uint8]
    spacing_mm: tuple[float, float] | None
    fps: float | None
    source: str
    notes: tuple[str, ...] = field(default=())


def read_cine(path: str | Path) -> Cine:
    """Decode an ultrasound DICOM file (single- or multi-frame) into a :class:`Cine`.

    Raises ``ValueError`` with one line naming the file when it is not DICOM, is truncated or
    corrupt, has no pixel data, uses a transfer syntax no installed decoder handles (naming
    the packages that would), or has an unsupported photometric interpretation.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p}: is a folder; a folder of PNG frames needs --fps and --spacing-mm")
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(p)
        except InvalidDicomError:
            raise ValueError(f"{p.name}: not a DICOM file (no DICM preamble)") from None
        except Exception as exc:
            raise ValueError(f"{p.name}: unreadable DICOM ({_line(exc)})") from None
        eof = [w for w in caught if "end of file" in str(w.message).lower()]
        if len(ds) == 0 or (eof and "PixelData" not in ds):
            why = _line(eof[0].message) if eof else "no data elements could be read"
            raise ValueError(f"{p.name}: truncated or corrupt DICOM ({why})")
        try:
            cine = _decode(ds, p.name)
        except ValueError:
            raise
        except Exception as exc:  # a malformed element: still one line, never a traceback
            raise ValueError(f"{p.name}: cannot use this DICOM file ({_line(exc)})") from None
    extra = sorted({_line(w.message) for w in caught})[:3]
    return Cine(cine.frames, cine.spacing_mm, cine.fps, cine.source, cine.notes + tuple(extra))


def _line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _decode(ds: Any, name: str) -> Cine:
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.pixels.processing import apply_color_lut, convert_color_space

    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None)
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise ValueError(f"{name}: float pixel data, not an ultrasound image ({_sop(ds)})")
        if ("Rows" in ds and "Columns" in ds) or "Image Storage" in _sop(ds):
            raise ValueError(
                f"{name}: truncated or corrupt DICOM: an image ({_sop(ds)}) without pixel data"
            )
        raise ValueError(f"{name}: no pixel data ({_sop(ds)})")
    if ts is None:
        raise ValueError(f"{name}: no transfer syntax in the file meta; cannot decode the pixels")
    try:
        decoder: Any = get_decoder(ts)  # Any: pydicom types **kwargs of as_array too narrowly
    except NotImplementedError:
        raise ValueError(
            f"{name}: unknown transfer syntax {ts}; cannot decode the pixels"
        ) from None
    if not decoder.is_available:
        need = "; ".join(decoder.missing_dependencies) or "a pydicom pixel data plugin"
        raise ValueError(f"{name}: cannot decode {ts.name} ({ts}): install one of: {need}")
    pi_in = str(ds.get("PhotometricInterpretation", "")).strip()
    try:
        arr, info = decoder.as_array(ds, as_rgb=True)
    except Exception as exc:
        raise ValueError(f"{name}: cannot decode the pixel data ({_line(exc)})") from None
    pi = str(info.get("photometric_interpretation", pi_in)).strip()
    n = int(info.get("number_of_frames", 1) or 1)
    spp = int(info.get("samples_per_pixel", 1) or 1)
    arr = np.asarray(arr)
    if n == 1 and arr.ndim == (3 if spp > 1 else 2):
        arr = arr[None]
    notes: list[str] = []
    if pi.startswith("YBR_FULL") and spp == 3:
        try:
            arr = convert_color_space(arr, pi, "RGB")
        except Exception as exc:
            raise ValueError(f"{name}: cannot convert {pi} to RGB ({_line(exc)})") from None
        pi = "RGB"
    if pi == "PALETTE COLOR":
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:
            raise ValueError(f"{name}: bad palette colour lookup table ({_line(exc)})") from None
        pi = "RGB"
    if pi == "RGB" and arr.shape[-1] == 3:
        grey = _rgb_to_grey(arr)
        notes.append(f"colour ({pi_in}) converted to grey (BT.601 luma)")
    elif pi in ("MONOCHROME1", "MONOCHROME2") and spp == 1:
        grey = _to_uint8(arr, int(info.get("bits_stored", 8) or 8), invert=pi == "MONOCHROME1")
    else:
        raise ValueError(
            f"{name}: unsupported photometric interpretation {pi_in or 'none'} "
            f"({spp} samples per pixel); supported: MONOCHROME1/2, RGB, YBR_FULL(_422), "
            "YBR_RCT/ICT, PALETTE COLOR"
        )
    if grey.ndim != 3 or grey.shape[0] < 1:
        raise ValueError(f"{name}: decoded pixels have an unexpected shape {arr.shape}")
    rows, cols = grey.shape[1:]
    spacing = _spacing(ds, rows, cols, notes)
    fps = _fps(ds, notes)
    src = (
        f"{name}: {_sop(ds)}, {ts.name}, {pi_in or '?'}, "
        f"{grey.shape[0]} frame{'s' if grey.shape[0] > 1 else ''} {cols}x{rows}"
    )
    return Cine(np.ascontiguousarray(grey), spacing, fps, src, tuple(notes))


def _sop(ds: Any) -> str:
    uid = ds.get("SOPClassUID")
    return str(getattr(uid, "name", uid)) if uid else "no SOP class"


def _rgb_to_grey(arr: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """(N, H, W, 3) uint8/uint16 RGB -> (N, H, W) uint8 luma."""
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)  # 16-bit palette entries: keep the high byte
    elif arr.dtype != np.uint8:
        arr = _to_uint8(arr, 8 * arr.dtype.itemsize, invert=False)
    out = np.empty(arr.shape[:-1], np.uint8)
    for i in range(arr.shape[0]):
        out[i] = cv2.cvtColor(np.ascontiguousarray(arr[i]), cv2.COLOR_RGB2GRAY)
    return out


def _to_uint8(arr: npt.NDArray[Any], bits: int, *, invert: bool) -> npt.NDArray[np.uint8]:
    """Integers of ``bits`` stored bits (signed ones shifted to start at 0) -> uint8 by the
    full scale of the bit depth, not by the clip's range (no contrast stretching)."""
    if arr.dtype == np.uint8 and bits == 8:
        return (255 - arr) if invert else arr
    a = arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.signedinteger):
        a += 2.0 ** (bits - 1)
    top = 2.0**bits - 1.0
    a = np.clip(a, 0.0, top) * (255.0 / top)
    if invert:
        a = 255.0 - a
    return np.rint(a).astype(np.uint8)


def _spacing(ds: Any, rows: int, cols: int, notes: list[str]) -> tuple[float, float] | None:
    regions = list(ds.get("SequenceOfUltrasoundRegions", []) or [])
    cands = []
    for k, r in enumerate(regions):
        try:
            fmt, units = (
                int(r.RegionSpatialFormat),
                (
                    int(r.PhysicalUnitsXDirection),
                    int(r.PhysicalUnitsYDirection),
                ),
            )
            dx, dy = abs(float(r.PhysicalDeltaX)) * 10.0, abs(float(r.PhysicalDeltaY)) * 10.0
            box = tuple(
                int(getattr(r, t))
                for t in (
                    "RegionLocationMinX0",
                    "RegionLocationMinY0",
                    "RegionLocationMaxX1",
                    "RegionLocationMaxY1",
                )
            )
        except (AttributeError, TypeError, ValueError):
            continue
        if fmt == _2D and units == (_CM, _CM) and dx > 0 and dy > 0:
            area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
            tissue = int(r.get("RegionDataType", 0) or 0) == _TISSUE
            cands.append((tissue, area, k, (dy, dx), box))
    if cands:
        tissue, _, k, sp, box = max(cands, key=lambda c: (c[0], c[1], -c[2]))
        kind = "2D tissue" if tissue else "2D"
        w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
        msg = f"region {k} of {len(regions)} ({kind}, {w}x{h} px, {sp[0]:.4f} x {sp[1]:.4f} mm)"
        others = [c for c in cands if c[2] != k]
        if others:
            msg += "; other 2D regions: " + ", ".join(
                f"{c[2]} ({c[3][0]:.4f} mm{', tissue' if c[0] else ''})" for c in others
            )
        if box[0] < 0 or box[1] < 0 or box[2] > cols or box[3] > rows:
            notes.append(
                f"calibration ignored: {msg} spans ({box[0]},{box[1]})-({box[2]},{box[3]}), "
                f"outside the {cols}x{rows} image: the pixels were resized or cropped after "
                "calibration; give the spacing explicitly"
            )
            return None
        notes.append(f"spacing from the ultrasound {msg}")
        return sp
    if regions:
        notes.append(f"{len(regions)} ultrasound region(s), none a 2D region calibrated in cm")
    ps = ds.get("PixelSpacing")
    if ps is not None and len(ps) == 2 and float(ps[0]) > 0 and float(ps[1]) > 0:
        notes.append("spacing from Pixel Spacing")
        return float(ps[0]), float(ps[1])
    return None


def _fps(ds: Any, notes: list[str]) -> float | None:
    def num(tag: str) -> float:
        try:
            return float(ds.get(tag) or 0.0)
        except (TypeError, ValueError):
            return 0.0

    if num("FrameTime") > 0:
        return 1000.0 / num("FrameTime")
    if num("CineRate") > 0:
        notes.append("frame rate from Cine Rate (no Frame Time)")
        return num("CineRate")
    vec = ds.get("FrameTimeVector")
    try:
        steps = [float(v) for v in (vec or [])][1:]
    except (TypeError, ValueError):
        steps = []
    if steps and all(s > 0 for s in steps):
        notes.append("frame rate from the mean Frame Time Vector step")
        return 1000.0 / float(np.mean(steps))
    return None


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def png_frame_paths(folder: Path) -> list[Path]:
    """The ``*.png`` files of ``folder`` in frame order: by name, numbers compared as numbers."""
    return sorted(
        (f for f in folder.iterdir() if f.suffix.lower() == ".png"), key=lambda f: _natural(f.name)
    )


def read_png_folder(
    folder: str | Path, fps: float | None, spacing_mm: float | tuple[float, float] | None
) -> Cine:
    """The PNG frames of ``folder`` (8- or 16-bit, grey or colour; sorted by name, numbers
    in names compared as numbers) as a :class:`Cine`. All frames must have one size. 16-bit
    frames are scaled to 8 bits by the bit depth their largest value needs (12-bit data in
    16-bit PNGs keeps its brightness). ``fps`` in frames/s, ``spacing_mm`` one value or
    (row, col) in mm; either may be None (unknown). Raises ``ValueError`` naming the problem.
    """
    d = Path(folder)
    if not d.is_dir():
        raise ValueError(f"{d}: not a folder")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive; got {fps}")
    sp: tuple[float, float] | None = None
    if spacing_mm is not None:
        sp = (
            (float(spacing_mm), float(spacing_mm))
            if isinstance(spacing_mm, int | float)
            else (float(spacing_mm[0]), float(spacing_mm[1]))
        )
        if not (sp[0] > 0 and sp[1] > 0):
            raise ValueError(f"spacing must be positive mm; got {spacing_mm}")
    files = png_frame_paths(d)
    if not files:
        raise ValueError(f"{d}: no .png frames in the folder")
    frames: list[npt.NDArray[Any]] = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{f.name}: not an 8- or 16-bit PNG image")
        if img.ndim == 3:
            code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
            img = cv2.cvtColor(img, code)
        if frames and img.shape != frames[0].shape:
            raise ValueError(
                f"{f.name}: {img.shape[1]}x{img.shape[0]} differs from the first frame "
                f"{files[0].name} ({frames[0].shape[1]}x{frames[0].shape[0]}); "
                "all frames need one size"
            )
        frames.append(img)
    stack = np.stack(frames)
    notes: list[str] = []
    if stack.dtype == np.uint16:
        bits = max(8, int(stack.max()).bit_length())
        stack = _to_uint8(stack, bits, invert=False)
        notes.append(f"16-bit frames scaled to 8 bits from {bits} significant bits")
    src = f"{d.name}/: {len(files)} PNG frames {stack.shape[2]}x{stack.shape[1]}"
    return Cine(np.ascontiguousarray(stack), sp, fps, src, tuple(notes))
