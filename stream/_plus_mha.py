"""PLUS sequence files (``.igs.mha``, ``.seq.mha``): a MetaImage header with per-frame fields,
then the pixels of every frame, raw or zlib-compressed.

The header is ``Key = value`` lines up to ``ElementDataFile = LOCAL``; what is read:
``NDims`` (2: one frame; 3: frames along the third axis), ``DimSize`` (W H [N]),
``ElementType`` (``MET_UCHAR``, ``MET_CHAR``, ``MET_USHORT``, ``MET_SHORT``, ``MET_UINT``,
``MET_INT``, ``MET_FLOAT``, ``MET_DOUBLE``), ``ElementNumberOfChannels``,
``BinaryDataByteOrderMSB``, ``ElementSpacing`` (mm; x then y), ``CompressedData`` with
``CompressedDataSize``, ``UltrasoundImageOrientation`` (kept as is: the pixels are not
reoriented), and per frame ``Seq_FrameNNNN_Timestamp`` (s), ``Seq_FrameNNNN_ImageStatus``,
``Seq_FrameNNNN_<Name>Transform`` (16 numbers, row-major 4x4) with its
``...TransformStatus``. Any problem (truncated pixels, a corrupt zlib stream, a bad or missing
header field, an external data file) is one ValueError line naming the file.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

MAX_HEADER_BYTES: Final = 64 << 20
"""A header longer than this (64 MiB) is not a PLUS sequence header."""
_TYPES: Final = {
    "MET_UCHAR": "u1",
    "MET_CHAR": "i1",
    "MET_USHORT": "u2",
    "MET_SHORT": "i2",
    "MET_UINT": "u4",
    "MET_INT": "i4",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
_FIELD: Final = re.compile(r"Seq_Frame(\d+)_(.+)")


@dataclass(frozen=True)
class PlusFrameFields:
    """One frame's fields: ``timestamp_s``, ``image_ok`` (ImageStatus OK or absent),
    ``transforms`` (name without the ``Transform`` suffix -> 4x4 nested list, only those
    whose status is OK) and ``transform_status`` (name -> status text)."""

    timestamp_s: float | None
    image_ok: bool
    transforms: dict[str, list[list[float]]] = field(default_factory=dict)
    transform_status: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlusSequence:
    """A PLUS sequence: ``frames`` (N, H, W) or (N, H, W, C) in native byte order,
    ``spacing_mm`` (row, column), ``fields`` one per frame, ``orientation`` (e.g. ``MF``,
    ``MFA``; empty when absent), ``header`` every other field as text."""

    path: str
    frames: npt.NDArray[Any]
    spacing_mm: tuple[float, float]
    fields: list[PlusFrameFields]
    orientation: str
    header: dict[str, str]

    def timestamps_s(self) -> list[float] | None:
        """Every frame's timestamp (s), or None when any frame has none."""
        stamps = [f.timestamp_s for f in self.fields]
        return None if any(t is None for t in stamps) else [float(t or 0.0) for t in stamps]


def _numbers(text: str, count: int | None, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise ValueError(f"{what} is not numbers: {text[:40]!r}") from None
    if count is not None and len(values) != count:
        raise ValueError(f"{what} has {len(values)} numbers, {count} expected")
    return values


def _split_header(data: bytes) -> tuple[dict[str, str], int]:
    """The header fields and the offset of the pixel data."""
    marker = data.find(b"ElementDataFile", 0, MAX_HEADER_BYTES)
    if marker < 0:
        raise ValueError("not a MetaImage header: no ElementDataFile line")
    end = data.find(b"\n", marker)
    if end < 0:
        raise ValueError("the header ends before its ElementDataFile line does")
    header: dict[str, str] = {}
    for line in data[: end + 1].decode("latin-1").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"bad header line {line[:40]!r}")
        header[key.strip()] = value.strip()
    return header, end + 1


def _frame_fields(header: dict[str, str], count: int) -> list[PlusFrameFields]:
    per: list[dict[str, str]] = [{} for _ in range(count)]
    for key, value in header.items():
        match = _FIELD.fullmatch(key)
        if match and int(match.group(1)) < count:
            per[int(match.group(1))][match.group(2)] = value
    out = []
    for index, raw in enumerate(per):
        stamp = raw.get("Timestamp")
        transforms: dict[str, list[list[float]]] = {}
        status: dict[str, str] = {}
        for key, value in raw.items():
            if key.endswith("TransformStatus"):
                status[key.removesuffix("TransformStatus")] = value
        for key, value in raw.items():
            if key.endswith("Transform"):
                name = key.removesuffix("Transform")
                what = f"frame {index} {key}"
                matrix = np.array(_numbers(value, 16, what)).reshape(4, 4)
                if status.get(name, "OK") == "OK":
                    transforms[name] = matrix.tolist()
        out.append(
            PlusFrameFields(
                timestamp_s=None if stamp is None else _numbers(stamp, 1, "Timestamp")[0],
                image_ok=raw.get("ImageStatus", "OK") == "OK",
                transforms=transforms,
                transform_status=status,
            )
        )
    return out


def _pixels(header: dict[str, str], payload: bytes) -> npt.NDArray[Any]:
    ndims = int(_numbers(header.get("NDims", ""), 1, "NDims")[0])
    if ndims not in (2, 3):
        raise ValueError(f"NDims {ndims}: a sequence has 2 or 3 dimensions")
    dims = [int(v) for v in _numbers(header.get("DimSize", ""), ndims, "DimSize")]
    if min(dims) < 1:
        raise ValueError(f"DimSize {dims} has an empty axis")
    width, height, count = dims[0], dims[1], dims[2] if ndims == 3 else 1
    kind = header.get("ElementType", "")
    if kind not in _TYPES:
        raise ValueError(f"ElementType {kind!r} not supported (known: {sorted(_TYPES)})")
    channels = int(_numbers(header.get("ElementNumberOfChannels", "1"), 1, "channels")[0])
    dtype = np.dtype(_TYPES[kind]).newbyteorder(
        ">" if header.get("BinaryDataByteOrderMSB", "False") == "True" else "<"
    )
    expected = width * height * count * channels * dtype.itemsize
    if header.get("CompressedData", "False") == "True":
        size = header.get("CompressedDataSize")
        stored = int(_numbers(size, 1, "CompressedDataSize")[0]) if size else len(payload)
        if stored > len(payload):
            raise ValueError(f"truncated: {len(payload)} of {stored} compressed bytes")
        try:
            payload = zlib.decompress(payload[:stored])
        except zlib.error as exc:
            raise ValueError(f"corrupt compressed pixel data ({exc})") from None
    if len(payload) < expected:
        raise ValueError(f"truncated: {len(payload)} bytes of pixel data, {expected} expected")
    shape = (count, height, width) + ((channels,) if channels > 1 else ())
    array = np.frombuffer(payload, dtype, expected // dtype.itemsize).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_plus_sequence(path: str | os.PathLike[str]) -> PlusSequence:
    """The PLUS sequence in ``path``; ValueError (one line, naming the file) when it cannot
    be read whole."""
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        header, offset = _split_header(data)
        where = header.get("ElementDataFile", "")
        if where != "LOCAL":
            raise ValueError(f"ElementDataFile {where!r}: only LOCAL (pixels in the file) is read")
        frames = _pixels(header, data[offset:])
        spacing = _numbers(header.get("ElementSpacing", "1 1"), None, "ElementSpacing")
        if len(spacing) < 2 or min(spacing[:2]) <= 0:
            raise ValueError(f"ElementSpacing {spacing}: two positive numbers expected")
        fields = _frame_fields(header, frames.shape[0])
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    others = {k: v for k, v in header.items() if not _FIELD.fullmatch(k)}
    return PlusSequence(
        path=str(path),
        frames=frames,
        spacing_mm=(spacing[1], spacing[0]),
        fields=fields,
        orientation=header.get("UltrasoundImageOrientation", ""),
        header=others,
    )
