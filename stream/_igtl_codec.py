"""OpenIGTLink v1/v2 messages: framing, CRC check, and the conversions between frames and
IMAGE / TRANSFORM / STATUS messages, on top of pyigtl's message classes.

pyigtl packs and unpacks message bodies; this module adds what a live engine needs around it:
a receive step that reads one whole message from a socket and says why it is dropped (empty or
oversized body, bad CRC, unknown type, a body that does not unpack), the STATUS message
pyigtl lacks, and the image-frame coordinates (x along columns, y along rows, z out of the
image; mm; origin at the centre of pixel (0, 0)) used by every IMAGE and TRANSFORM we send.

The CRC-64 runs in crcmod's C extension when it is installed (crcmod-plus brings it); in pure
Python an image body costs milliseconds, so :func:`crc_extension_in_use` reports it and
importing this module logs a warning when it is not.
"""

from __future__ import annotations

import importlib
import logging
import socket
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyigtl
from pyigtl.messages import CRC64, MessageBase

from ._frame import Frame

_log = logging.getLogger("orstream.stream")

DEFAULT_IGTL_PORT: Final = 18944
"""The port OpenIGTLink servers (PLUS, Slicer) listen on by default."""
HEADER_BYTES: Final = 58
"""Size of an OpenIGTLink message header (version, type, device name, timestamp, size, CRC)."""
DEFAULT_MAX_BODY_BYTES: Final = 64 << 20
"""Largest message body a receiver accepts (64 MiB); a larger one is dropped and the
connection closed (its bytes cannot be skipped safely)."""
MAX_DEVICE_NAME_BYTES: Final = 20
"""An OpenIGTLink device name is at most 20 bytes."""
_HEADER: Final = struct.Struct(">H12s20sIIQQ")
_EMPTY_OK: Final = ("GET_", "STP_", "RTS_")
"""Prefixes of the types whose body may be empty (queries, stop, ready-to-send); any other
type with an empty body is dropped."""
STATUS_CODES: Final = {"ACTIVE": 1, "OK": 1, "HOLD": 13, "STOP": 15}
"""The OpenIGTLink STATUS code of each gate state: 1 OK, 13 device not ready, 15 device
disabled; any other state is 2 (unknown error)."""


def crc_extension_in_use() -> bool:
    """True when crcmod computes CRCs in its C extension (fast), False in pure Python.

    Reads the flag of the ``crcmod.crcmod`` submodule itself: when plain ``crcmod`` 1.7 (which
    pyigtl requires) is installed after crcmod-plus, its package ``__init__`` star-imports the
    submodule's names and so rebinds the attribute ``crcmod.crcmod`` to the package, where
    the flag is absent although the extension is in use."""
    module = importlib.import_module("crcmod.crcmod")
    return bool(getattr(module, "_usingExtension", False))


if not crc_extension_in_use():
    _log.warning(
        "OpenIGTLink: crcmod runs in pure Python (image messages will be slow); "
        "reinstall it with its C extension: pip install --force-reinstall crcmod-plus"
    )


class IgtlMessageError(Exception):
    """A message that is dropped: ``kind`` (empty, oversized, crc, type, device, malformed)
    and a reason without payload bytes. ``fatal``: the stream cannot be resynchronised."""

    def __init__(self, kind: str, reason: str, *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class IgtlHeader:
    """A parsed header: ``version``, ``type`` (IMAGE, TRANSFORM...), ``device`` name,
    ``timestamp_s`` (seconds since the epoch, float), ``body_bytes``, ``crc``."""

    version: int
    type: str
    device: str
    timestamp_s: float
    body_bytes: int
    crc: int

    def fields(self) -> dict[str, Any]:
        """The dict pyigtl's ``MessageBase.unpack`` takes."""
        return {
            "header_version": self.version,
            "message_type": self.type,
            "device_name": self.device,
            "timestamp": self.timestamp_s,
            "body_size": self.body_bytes,
        }


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.split(b"\0", 1)[0].decode("ascii").strip()
    except UnicodeDecodeError:
        raise IgtlMessageError("malformed", f"{what} is not ASCII", fatal=True) from None


def parse_igtl_header(raw: bytes, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> IgtlHeader:
    """The header in ``raw`` (58 bytes); IgtlMessageError (fatal) for a header that cannot be
    trusted: an unknown header version, a non-ASCII type, a body over ``max_body_bytes``."""
    version, mtype, device, seconds, frac, size, crc = _HEADER.unpack(raw)
    if version not in (1, 2):
        raise IgtlMessageError("malformed", f"header version {version}", fatal=True)
    kind = _text(mtype, "message type")
    if not kind:
        raise IgtlMessageError("malformed", "empty message type", fatal=True)
    if size > max_body_bytes:
        raise IgtlMessageError("oversized", f"{size} byte body > {max_body_bytes}", fatal=True)
    name = _text(device, "device name")
    return IgtlHeader(version, kind, name, seconds + frac / 2**32, size, crc)


def _recv_exact(sock: socket.socket, n: int, stop: threading.Event) -> bytes | None:
    """``n`` bytes from ``sock`` (with a timeout set), or None at EOF or once ``stop`` is set."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if stop.is_set():
            return None
        try:
            k = sock.recv_into(view[got:], n - got)
        except TimeoutError:
            continue
        if k == 0:
            return None
        got += k
    return bytes(buf)


def recv_igtl(
    sock: socket.socket,
    stop: threading.Event,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> tuple[IgtlHeader, bytes] | None:
    """One whole message from ``sock``: its header and its body, CRC checked; None at EOF or
    after ``stop``. IgtlMessageError for a message to drop (``fatal``: close the connection);
    a non-fatal drop has consumed the whole message, so the next call reads the next one."""
    raw = _recv_exact(sock, HEADER_BYTES, stop)
    if raw is None:
        return None
    header = parse_igtl_header(raw, max_body_bytes)
    body = _recv_exact(sock, header.body_bytes, stop) if header.body_bytes else b""
    if body is None:
        return None
    if not body and not header.type.startswith(_EMPTY_OK):
        raise IgtlMessageError("empty", f"{header.type} {header.device!r} with an empty body")
    if body and CRC64(body) != header.crc:
        raise IgtlMessageError("crc", f"{header.type} {header.device!r}: CRC mismatch")
    return header, body


def unpack_igtl(header: IgtlHeader, body: bytes) -> Any:
    """The pyigtl message (ImageMessage, TransformMessage, StringMessage...) of a received
    message; IgtlMessageError (non-fatal) for a type pyigtl does not know or a body that does not
    unpack (wrong size, bad fields)."""
    message = MessageBase.create_message(header.type)
    if message is None:
        raise IgtlMessageError("type", f"message type {header.type!r} not handled")
    try:
        if header.type == "IMAGE":
            _check_image_body(header, body)
        message.unpack(header.fields(), body)
    except IgtlMessageError:
        raise
    except Exception as exc:  # pyigtl raises whatever struct/numpy raise on a bad body
        raise IgtlMessageError("malformed", f"{header.type}: {type(exc).__name__}") from None
    return message


_IMAGE_HEAD: Final = struct.Struct(">HBBBBHHH")
_IMAGE_HEAD_BYTES: Final = 72
_IMAGE_ITEM_BYTES: Final = {2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 10: 4, 11: 8}


def _check_image_body(header: IgtlHeader, body: bytes) -> None:
    """IgtlMessageError unless an IMAGE body holds exactly the voxels its header announces."""
    ext = meta_size = 0  # extended header, metadata (header version 2)
    if header.version > 1:
        if len(body) < 12:
            raise IgtlMessageError("malformed", "IMAGE: short extended header")
        ext, meta_head, meta_body, _ = struct.unpack(">HHII", body[:12])
        meta_size = meta_head + meta_body
    content = len(body) - ext - meta_size
    if content < _IMAGE_HEAD_BYTES:
        raise IgtlMessageError("malformed", "IMAGE: short image header")
    _, comps, scalar, _, _, si, sj, sk = _IMAGE_HEAD.unpack(body[ext : ext + _IMAGE_HEAD.size])
    item = _IMAGE_ITEM_BYTES.get(scalar)
    if item is None or comps == 0:
        raise IgtlMessageError("malformed", f"IMAGE: scalar type {scalar}, {comps} components")
    if content - _IMAGE_HEAD_BYTES != si * sj * sk * comps * item:
        raise IgtlMessageError("malformed", f"IMAGE: {si}x{sj}x{sk} voxels do not fill the body")


def image_pixels(message: Any) -> tuple[npt.NDArray[Any], tuple[float, float]]:
    """The pixels of a single-slice pyigtl ImageMessage as (H, W) or (H, W, C), native byte
    order, and its (row, column) spacing in mm; IgtlMessageError for a volume of several slices."""
    image = np.asarray(message.image)
    if image.shape[0] != 1:
        raise IgtlMessageError("malformed", f"IMAGE: {image.shape[0]} slices (one expected)")
    pixels = np.ascontiguousarray(image[0].astype(image.dtype.newbyteorder("=")))
    matrix = np.asarray(message.ijk_to_world_matrix, dtype=np.float64)
    col, row = (float(np.linalg.norm(matrix[:3, axis])) for axis in (0, 1))
    return pixels, (row, col)


def image_message(
    pixels: npt.NDArray[Any],
    device: str,
    spacing_mm: tuple[float, float] | None,
    t_s: float,
) -> Any:
    """An IMAGE of ``pixels`` ((H, W) or (H, W, C), an IGTL scalar type) in the image frame:
    i along columns, j along rows, spacing (row, column) mm (1 mm when None), origin at pixel
    (0, 0), RAS so that Slicer shows it without flipping; ``t_s``: its timestamp (s)."""
    row, col = spacing_mm if spacing_mm is not None else (1.0, 1.0)
    ijk = np.diag([col, row, 1.0, 1.0])
    return pyigtl.ImageMessage(
        np.ascontiguousarray(pixels)[None],
        ijk_to_world_matrix=ijk,
        world_coordinate_system="ras",
        timestamp=t_s,
        device_name=device,
    )


def transform_message(matrix: npt.ArrayLike, device: str, t_s: float) -> Any:
    """A TRANSFORM message of a 4x4 matrix (translation in mm) named ``device``."""
    return pyigtl.TransformMessage(np.asarray(matrix), timestamp=t_s, device_name=device)


def translation(x_mm: float, y_mm: float, z_mm: float = 0.0) -> npt.NDArray[np.float64]:
    """The 4x4 matrix of a pure translation (mm)."""
    matrix = np.eye(4)
    matrix[:3, 3] = (x_mm, y_mm, z_mm)
    return matrix


class StatusMessage(MessageBase):  # type: ignore[misc]
    """An OpenIGTLink STATUS message (pyigtl has none): ``code`` (1 OK, 2 generic error, 11
    not ready...), ``subcode``, ``error_name`` (at most 20 bytes), ``status`` text."""

    def __init__(
        self,
        code: int = 1,
        subcode: int = 0,
        error_name: str = "",
        status: str = "",
        *,
        timestamp: float | None = None,
        device_name: str | None = None,
    ) -> None:
        super().__init__(timestamp=timestamp, device_name=device_name)
        self._message_type = "STATUS"
        self.code, self.subcode = code, subcode
        self.error_name, self.status = error_name, status
        self._valid_message = True

    def _pack_content(self) -> bytes:
        head = struct.pack(">Hq20s", self.code, self.subcode, self.error_name.encode()[:20])
        return head + self.status.encode("utf-8") + b"\0"

    def _unpack_content(self, content: bytes) -> None:
        self.code, self.subcode, name = struct.unpack(">Hq20s", content[:30])
        self.error_name = name.split(b"\0", 1)[0].decode("ascii", "replace")
        self.status = content[30:].split(b"\0", 1)[0].decode("utf-8", "replace")


def status_message(state: Mapping[str, Any], device: str, t_s: float) -> StatusMessage:
    """A STATUS of a guidance mapping: ``state`` (ACTIVE, HOLD, STOP) as the error name and
    its code (:data:`STATUS_CODES`), ``reason`` (text, or ``{"code", "text"}``) as the text."""
    name = str(state.get("state", "unknown")).upper()
    reason = state.get("reason", "")
    if isinstance(reason, Mapping):
        reason = f"{reason.get('code', '')}: {reason.get('text', '')}"
    return StatusMessage(
        STATUS_CODES.get(name, 2), 0, name[:20], str(reason), timestamp=t_s, device_name=device
    )


def query_message(kind: str, device: str) -> Any:
    """An empty-bodied query (``GET_IMAGE``, ``GET_STATUS``...) for ``device``."""
    message = MessageBase(device_name=device)
    message._message_type = kind
    message._valid_message = True
    return message


def frame_time_s(frame: Frame) -> float:
    """The frame's capture time in seconds since the epoch (an IGTL timestamp)."""
    return frame.t_capture_ns / 1e9
