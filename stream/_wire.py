"""Wire protocol v1: a frame as a two-part message [UTF-8 JSON header, raw C-contiguous pixels].

The normative description is ``docs/wire-protocol.md``; this module is its reference
implementation. Decoding never raises anything but :class:`WireError`, whose ``kind`` names
the class of defect so that receivers can count drops per kind.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._frame import Frame, Geometry, GeometryKind, JSONValue, Modality
from ._shm import ShmError, ShmOverrunError, ShmReader

WIRE_VERSION: Final = 1
MAX_HEADER_BYTES: Final = 16 * 1024
DEFAULT_MAX_PAYLOAD_BYTES: Final = 256 * 1024 * 1024
MAX_DIM: Final = 32768
MAX_STREAM_ID_CHARS: Final = 128
DTYPES: Final = frozenset(
    {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"}
)
DROP_KINDS: Final = (
    "parts",
    "header_size",
    "payload_size",
    "utf8",
    "json",
    "version",
    "field",
    "dtype",
    "shape",
    "payload_mismatch",
    "shm",
    "overrun",
)
"""Every ``WireError.kind``, in the order the checks run. ``overrun`` is not a malformed
message: a shared-memory slot was reused before the receiver got to it (a live-path drop)."""


_JSON_OUT: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class WireError(ValueError):
    """A message that is not a valid wire-v1 frame; ``kind`` is one of :data:`DROP_KINDS`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def encode_header(frame: Frame, shm: dict[str, Any] | None = None) -> bytes:
    """The header part for ``frame`` (compact UTF-8 JSON, at most :data:`MAX_HEADER_BYTES`);
    ``shm`` is the shared-memory slot reference when the pixels travel that way.

    A header without ``meta``, geometry parameters or ``shm`` reuses the bytes of an earlier
    one that differed only in ``seq`` and ``t_capture_ns`` (a stream's next frame)."""
    pixels = frame.pixels
    seq, t_ns, spacing = frame.seq, frame.t_capture_ns, frame.spacing_mm
    key: tuple[Any, ...] | None = None
    if (
        shm is None
        and not frame.meta
        and not frame.geometry.params
        and type(seq) is int
        and type(t_ns) is int
        and (spacing is None or type(spacing) is tuple)
    ):
        kind = frame.geometry.kind
        key = (frame.stream_id, frame.modality, pixels.dtype.name, pixels.shape, spacing, kind)
        parts = _HEADER_PARTS.get(key)
        if parts is not None:
            data = b'%s%d,"t_capture_ns":%d%s' % (parts[0], seq, t_ns, parts[1])
            if len(data) <= MAX_HEADER_BYTES:
                return data
    header: dict[str, JSONValue] = {
        "v": WIRE_VERSION,
        "stream": frame.stream_id,
        "seq": frame.seq,
        "t_capture_ns": frame.t_capture_ns,
        "modality": frame.modality.value,
        "dtype": pixels.dtype.name,
        "shape": list(pixels.shape),
        "spacing_mm": list(frame.spacing_mm) if frame.spacing_mm is not None else None,
        "geometry": frame.geometry.to_json(),
    }
    if frame.meta:
        header["meta"] = dict(frame.meta)
    if shm is not None:
        header["shm"] = shm
    data = _JSON_OUT.encode(header).encode()
    if len(data) > MAX_HEADER_BYTES:
        raise WireError("header_size", f"header is {len(data)} bytes, limit {MAX_HEADER_BYTES}")
    if key is not None:  # the bytes before seq's value and from "modality" on
        head = data[: data.index(b',"seq":') + 7]
        if len(_HEADER_PARTS) >= _MAX_HEADER_PARTS:
            _HEADER_PARTS.clear()
        _HEADER_PARTS[key] = (head, data[data.index(b',"modality":', len(head)) :])
    return data


_HEADER_PARTS: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
_MAX_HEADER_PARTS: Final = 256


def wire_pixels(frame: Frame) -> npt.NDArray[Any]:
    """The pixels as the payload needs them: C-contiguous, little-endian, a supported dtype.

    Returns ``frame.pixels`` itself (no copy) when it already qualifies.
    """
    pixels = frame.pixels
    if (
        type(pixels) is np.ndarray
        and pixels.dtype in _LITTLE_ENDIAN_DTYPES
        and pixels.flags.c_contiguous
        and _shape_ok(pixels.shape)
    ):
        return pixels  # the common case, without the checks' cost on the live path
    pixels = np.asarray(pixels)
    if pixels.dtype.name not in DTYPES:
        raise WireError("dtype", f"dtype {pixels.dtype} is not one of {sorted(DTYPES)}")
    _check_shape(list(pixels.shape))
    if pixels.dtype.byteorder == ">":
        pixels = pixels.astype(pixels.dtype.newbyteorder("<"))
    return np.ascontiguousarray(pixels)


_LITTLE_ENDIAN_DTYPES: Final = frozenset(np.dtype(name).newbyteorder("<") for name in DTYPES)


def _shape_ok(shape: tuple[int, ...]) -> bool:
    return (
        (len(shape) == 2 or (len(shape) == 3 and 1 <= shape[2] <= 4))
        and 1 <= shape[0] <= MAX_DIM
        and 1 <= shape[1] <= MAX_DIM
    )


def encode(frame: Frame) -> list[Any]:
    """``[header bytes, pixel array]``; the array is the payload, to be sent without a copy."""
    payload = wire_pixels(frame)
    return [encode_header(frame), payload]


def decode(
    parts: Sequence[Any],
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    shm_reader: ShmReader | None = None,
) -> Frame:
    """Frame from a received ``[header, payload]`` message.

    ``parts``: objects with the buffer protocol (``bytes``, ``zmq.Frame``, ``memoryview``). The
    returned frame's pixels are a read-only view on ``parts[1]`` (zero copy) of the declared
    dtype and shape, or, for a header with ``shm`` and an empty payload, on the shared-memory
    slot it names (only with a ``shm_reader``; the frame's ``lease`` then tells whether the
    slot still holds it). Raises :class:`WireError` for anything that is not a valid v1 frame.
    """
    if len(parts) != 2:
        raise WireError("parts", f"expected 2 message parts [header, payload], got {len(parts)}")
    header_buf = memoryview(parts[0])
    payload_buf = memoryview(parts[1])
    if header_buf.nbytes > MAX_HEADER_BYTES:
        raise WireError("header_size", f"header {header_buf.nbytes} B > {MAX_HEADER_BYTES} B")
    if payload_buf.nbytes > max_payload_bytes:
        raise WireError("payload_size", f"payload {payload_buf.nbytes} B > {max_payload_bytes} B")
    header = parse_header(header_buf.tobytes())
    dtype, shape, expected = _pixel_format(header, max_payload_bytes)
    if header["shm"] is not None:
        if payload_buf.nbytes:
            raise WireError("shm", "a frame with 'shm' must have an empty payload part")
        if shm_reader is None:
            raise WireError("shm", "shared-memory frames are not accepted on this socket")
        return _frame(header, *_shm_view(shm_reader, header["shm"], dtype, shape))
    if payload_buf.nbytes != expected:
        raise WireError(
            "payload_mismatch",
            f"payload is {payload_buf.nbytes} B but {header['dtype']}{shape} needs {expected} B",
        )
    pixels = np.frombuffer(parts[1], dtype=dtype).reshape(shape)
    pixels.flags.writeable = False
    return _frame(header, pixels, None)


def decode_shm_slot(
    header: bytes,
    ref: dict[str, Any],
    shm_reader: ShmReader,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    cache: dict[bytes, Any] | None = None,
) -> Frame:
    """Frame from a shared-memory slot read by a ``ShmFollower``: the wire header the sender
    stored in the slot and the slot's reference (``nbytes`` comes from the header).

    ``cache``: a dict the caller keeps per ring; a header that differs from a cached one only
    in ``seq`` and ``t_capture_ns`` (a sender's next frame) then skips the JSON parse."""
    fields, (dtype, shape, expected) = _parse_slot_header(header, max_payload_bytes, cache)
    return _frame(fields, *_shm_view(shm_reader, {**ref, "nbytes": expected}, dtype, shape))


_SEQ_AND_TIME: Final = re.compile(
    rb'\{"v":1,"stream":"[^"\\]{1,128}","seq":(0|[1-9][0-9]{0,18}),'
    rb'"t_capture_ns":(0|[1-9][0-9]{0,18}),'
)
_MAX_CACHED_HEADERS: Final = 8


def _parse_slot_header(
    header: bytes, max_payload_bytes: int, cache: dict[bytes, Any] | None
) -> tuple[dict[str, Any], tuple[np.dtype[Any], list[int], int]]:
    """``parse_header`` and ``_pixel_format``, from ``cache`` where only the numbers differ."""
    match = _SEQ_AND_TIME.match(header) if cache is not None else None
    if match is None or cache is None:
        fields = parse_header(header)
        return fields, _pixel_format(fields, max_payload_bytes)
    key = header[: match.start(1)] + header[match.end(1) : match.start(2)] + header[match.end(2) :]
    seq, t_ns = int(match[1]), int(match[2])
    cached = cache.get(key)
    if cached is None or seq >= 2**63 or t_ns >= 2**63:
        fields = parse_header(header)
        shape_fmt = _pixel_format(fields, max_payload_bytes)
        rest = header[match.end() :]  # where a duplicate key would override the numbers
        if b'"seq"' not in rest and b'"t_capture_ns"' not in rest:
            if len(cache) >= _MAX_CACHED_HEADERS:
                cache.clear()
            cache[key] = ({**fields, "meta": dict(fields["meta"])}, shape_fmt)
        return fields, shape_fmt
    template, shape_fmt = cached
    geometry = template["geometry"]
    fields = {
        **template,
        "seq": seq,
        "t_capture_ns": t_ns,
        "geometry": Geometry(geometry.kind, dict(geometry.params)),
        "meta": dict(template["meta"]),
    }
    if shape_fmt[2] > max_payload_bytes:
        _pixel_format(fields, max_payload_bytes)  # raises
    return fields, shape_fmt


def _pixel_format(
    header: dict[str, Any], max_payload_bytes: int
) -> tuple[np.dtype[Any], list[int], int]:
    dtype = np.dtype(header["dtype"]).newbyteorder("<")
    shape: list[int] = header["shape"]
    expected = math.prod(shape) * dtype.itemsize
    if expected > max_payload_bytes:
        raise WireError("payload_size", f"{header['dtype']}{shape} is {expected} B, over the limit")
    return dtype, shape, expected


def _shm_view(
    shm_reader: ShmReader, ref: object, dtype: np.dtype[Any], shape: list[int]
) -> tuple[npt.NDArray[Any], Callable[[], bool]]:
    try:
        return shm_reader.view(ref, dtype, shape)
    except ShmError as exc:
        kind = "overrun" if isinstance(exc, ShmOverrunError) else "shm"
        raise WireError(kind, str(exc)) from None


def _frame(
    header: dict[str, Any], pixels: npt.NDArray[Any], lease: Callable[[], bool] | None
) -> Frame:
    return Frame(
        pixels=pixels,
        stream_id=header["stream"],
        seq=header["seq"],
        t_capture_ns=header["t_capture_ns"],
        modality=Modality(header["modality"]),
        spacing_mm=header["spacing_mm"],
        geometry=header["geometry"],
        meta=header["meta"],
        lease=lease,
    )


def parse_header(data: bytes) -> dict[str, Any]:
    """Validate a v1 header and return its fields normalised (tuples, Geometry, defaults)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("utf8", f"header is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        obj = _JSON.decode(text)
    except (ValueError, RecursionError) as exc:
        raise WireError("json", f"header is not JSON ({str(exc)[:80]})") from None
    if not isinstance(obj, dict):
        raise WireError("json", f"header must be a JSON object, got {type(obj).__name__}")
    version = obj.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version != WIRE_VERSION:
        raise WireError("version", f"unsupported wire version {str(version)[:20]!r}, expected 1")
    stream = obj.get("stream")
    if not isinstance(stream, str) or not 0 < len(stream) <= MAX_STREAM_ID_CHARS:
        raise WireError("field", f"'stream' must be a string of 1-{MAX_STREAM_ID_CHARS} chars")
    seq = _int_field(obj, "seq")
    t_capture_ns = _int_field(obj, "t_capture_ns")
    modality = obj.get("modality", "other")
    if not isinstance(modality, str) or modality not in Modality._value2member_map_:
        raise WireError("field", f"unknown modality {str(modality)[:20]!r}")
    dtype = obj.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise WireError("dtype", f"dtype {str(dtype)[:20]!r} is not one of {sorted(DTYPES)}")
    shape = obj.get("shape")
    _check_shape(shape)
    return {
        "stream": stream,
        "seq": seq,
        "t_capture_ns": t_capture_ns,
        "modality": modality,
        "dtype": dtype,
        "shape": shape,
        "spacing_mm": _spacing(obj.get("spacing_mm")),
        "geometry": _geometry(obj.get("geometry")),
        "meta": _meta(obj.get("meta")),
        "shm": obj.get("shm"),
    }


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _int_field(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise WireError("field", f"'{name}' must be an integer in [0, 2**63)")
    return value


def _check_shape(shape: object) -> None:
    if (
        not isinstance(shape, list)
        or len(shape) not in (2, 3)
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape)
    ):
        raise WireError("shape", "shape must be [H, W] or [H, W, C] of integers")
    channels_ok = len(shape) == 2 or 1 <= shape[2] <= 4
    if not all(1 <= n <= MAX_DIM for n in shape[:2]) or not channels_ok:
        raise WireError("shape", f"shape {shape} out of range (H, W in 1..{MAX_DIM}, C in 1..4)")


def _spacing(value: object) -> tuple[float, float] | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        try:  # an integer beyond the float range overflows
            row, col = float(value[0]), float(value[1])
        except OverflowError:
            row = col = math.nan
        if math.isfinite(row) and math.isfinite(col) and row > 0 and col > 0:
            return (row, col)
    raise WireError("field", "'spacing_mm' must be null or [row_mm, col_mm] of positive numbers")


def _geometry(value: object) -> Geometry:
    if value is None:
        return Geometry()
    kinds = GeometryKind._value2member_map_
    kind = value.get("kind", "unknown") if isinstance(value, dict) else None
    if not isinstance(value, dict) or not isinstance(kind, str) or kind not in kinds:
        raise WireError("field", "'geometry' must be an object whose 'kind' is a known geometry")
    params = {k: v for k, v in value.items() if k != "kind"}
    return Geometry(GeometryKind(kind), params)


def _meta(value: object) -> dict[str, JSONValue]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WireError("field", "'meta' must be a JSON object")
    return value
