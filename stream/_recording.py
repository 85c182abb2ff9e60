"""Recordings: an append-only file of wire-v1 messages, bit-exact and readable after a crash.

The normative description is ``docs/recording-format.md``. In short (little-endian): a 32-byte
file header (magic, format version, CRC-32), then one record per frame: a 24-byte prefix
(marker, lengths, CRC-32), the wire-v1 header bytes verbatim, zero padding so the payload
starts at a 64-byte aligned file offset, and the raw payload. A crash leaves at most one
partial record at the end, which readers ignore with a warning. The pipeline's recorder and
the recording source are in ``_recording_sink.py``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self

from ._frame import Frame
from ._wire import MAX_HEADER_BYTES, WIRE_VERSION, WireError, decode, encode

_log = logging.getLogger("orstream.stream")

RECORDING_MAGIC: Final = b"\x89ORSREC\n"
RECORDING_FORMAT_VERSION: Final = 1
RECORD_MARKER: Final = b"ORFR"
PAYLOAD_ALIGN: Final = 64
_FILE_HEADER = struct.Struct("<8sHHIQII")  # magic, version, size, wire v, created_ns, flags, crc
_PREFIX = struct.Struct("<4sIQHHI")  # marker, header_len, payload_len, pad_len, flags, crc
_NO_CRC = struct.Struct("<4sIQHH")
_ZEROS: Final = bytes(PAYLOAD_ALIGN)
_NO_PAYLOAD_LIMIT: Final = 2**63


def checked_parts(header: Any, payload: Any) -> tuple[bytes, memoryview]:
    """``(header bytes, flat byte view of payload)`` once they decode as a valid wire-v1 frame."""
    header_bytes = bytes(header)
    view = memoryview(payload)
    if not view.c_contiguous:
        raise ValueError("payload must be a C-contiguous buffer")
    view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    decode([header_bytes, view], max_payload_bytes=_NO_PAYLOAD_LIMIT)
    return header_bytes, view


def encoded_parts(frame: Frame) -> tuple[bytes, memoryview]:
    """Wire-v1 ``(header, payload view)`` of ``frame`` (no pixel copy when already LE + C)."""
    header, pixels = encode(frame)
    return checked_parts(header, pixels)


def _write_all(fd: int, buffers: list[memoryview]) -> None:
    """``os.writev`` until every byte is written (a call may write only part)."""
    views = [b for b in buffers if b.nbytes]
    while views:
        n = os.writev(fd, views)
        if n <= 0:
            raise OSError(errno.EIO, "writev wrote nothing")
        while views and n >= views[0].nbytes:
            n -= views[0].nbytes
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]


_sync = getattr(os, "fdatasync", os.fsync)


class RecordingWriter:
    """Appends frames to a new recording at ``path``.

    Each record goes to the kernel in one ``os.writev`` (no user-space buffer, no copy of the
    payload), so after a crash of this process everything appended is in the file; the file is
    fsynced at most every ``fsync_interval_s`` seconds and on :meth:`close`, which bounds what a
    power loss can take. An existing file is an error unless ``overwrite``. If a write fails
    the partial record is truncated away (best effort) and the OSError is raised.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        fsync_interval_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.fsync_interval_s = fsync_interval_s
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        flags |= os.O_TRUNC if overwrite else os.O_EXCL
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except FileExistsError:
            raise FileExistsError(
                errno.EEXIST, "recording exists (overwrite it explicitly)", str(self.path)
            ) from None
        self.created_ns = time.time_ns()
        fields = (
            RECORDING_MAGIC,
            RECORDING_FORMAT_VERSION,
            _FILE_HEADER.size,
            WIRE_VERSION,
            self.created_ns,
            0,
        )
        head = _FILE_HEADER.pack(*fields, zlib.crc32(_FILE_HEADER.pack(*fields, 0)[:28]))
        self.frames = 0
        self.nbytes = 0
        self._closed = False
        try:
            _write_all(self._fd, [memoryview(head)])
            os.fsync(self._fd)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            os.close(self._fd)
            raise
        self.nbytes = len(head)
        self._last_sync = time.monotonic()

    def append(self, frame: Frame) -> None:
        """Append one frame (wire-v1 encoded; raises WireError if it cannot be)."""
        self.write_record(*encoded_parts(frame))

    def append_parts(self, header: Any, payload: Any) -> None:
        """Append a received ``[header, payload]`` message verbatim (buffers; payload C-contiguous).

        Raises WireError when the pair is not a valid wire-v1 frame: nothing invalid is stored.
        """
        self.write_record(*checked_parts(header, payload))

    def write_record(self, header: bytes, payload: memoryview) -> None:
        """Append one record as given: the caller has validated it (:func:`checked_parts`)."""
        if self._closed:
            raise ValueError(f"{self.path}: recording is closed")
        pad = -(self.nbytes + _PREFIX.size + len(header)) % PAYLOAD_ALIGN
        head = _NO_CRC.pack(RECORD_MARKER, len(header), payload.nbytes, pad, 0)
        crc = zlib.crc32(payload, zlib.crc32(_ZEROS[:pad], zlib.crc32(header, zlib.crc32(head))))
        small = b"".join((head, struct.pack("<I", crc), header, _ZEROS[:pad]))
        try:
            _write_all(self._fd, [memoryview(small), payload])
        except OSError:
            with contextlib.suppress(OSError):  # no torn record left: later appends stay readable
                os.ftruncate(self._fd, self.nbytes)
            raise
        self.nbytes += len(small) + payload.nbytes
        self.frames += 1
        if time.monotonic() - self._last_sync >= self.fsync_interval_s:
            self.sync()

    def sync(self) -> None:
        """Flush what was appended to the disk now."""
        if not self._closed:
            _sync(self._fd)
            self._last_sync = time.monotonic()

    def sync_if_due(self) -> None:
        """:meth:`sync` if the last one is ``fsync_interval_s`` or more ago (idle writers)."""
        if time.monotonic() - self._last_sync >= self.fsync_interval_s:
            self.sync()

    def close(self) -> None:
        """Sync and close the file; idempotent."""
        if self._closed:
            return
        try:
            self.sync()
        finally:
            self._closed = True
            os.close(self._fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One record as stored: ``header`` is the wire-v1 header bytes verbatim, ``payload`` a
    read-only view on the file's memory map; ``offset`` is the record's file offset in bytes."""

    offset: int
    header: bytes
    payload: memoryview


class RecordingReader:
    """Reads a recording through a read-only memory map.

    Iterating yields decoded frames in file order whose pixels are read-only views on the map
    (zero copy); :meth:`messages` yields the raw stored messages for bit-exact replay. A cut
    or torn last record ends iteration: its size goes to ``tail_bytes`` with a warning, never
    an exception. A damaged record with valid records after it (corruption in the middle) is
    skipped, its span logged as a warning and kept in ``damaged`` as (offset, length) pairs;
    with ``strict=True`` it raises ValueError instead. A file that is not a recording, or of
    an unknown format version, raises ValueError naming the file when opened.
    """

    def __init__(self, path: str | os.PathLike[str], *, strict: bool = False) -> None:
        self.path = Path(path)
        self.strict = strict
        self.tail_bytes = 0
        self.damaged: list[tuple[int, int]] = []
        self.invalid = 0
        with open(self.path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size == 0:
                raise ValueError(f"{self.path}: empty file, not an orstream recording")
            self._mm = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = memoryview(self._mm)
        try:
            self.format_version, self.created_ns, self._start = self._read_file_header()
        except ValueError:
            self.close()
            raise

    def _read_file_header(self) -> tuple[int, int, int]:
        data = self._mm[: _FILE_HEADER.size]
        if not data.startswith(RECORDING_MAGIC[: len(data)]):
            raise ValueError(f"{self.path}: not an orstream recording (no recording magic)")
        if len(data) < 10:
            raise ValueError(f"{self.path}: truncated recording file header")
        (version,) = struct.unpack_from("<H", data, 8)
        if version != RECORDING_FORMAT_VERSION:
            raise ValueError(
                f"{self.path}: recording format version {version} is not supported "
                f"(this orstream reads version {RECORDING_FORMAT_VERSION})"
            )
        if len(data) < _FILE_HEADER.size:
            raise ValueError(f"{self.path}: truncated recording file header")
        _, _, header_size, _, created_ns, _, crc = _FILE_HEADER.unpack(data)
        if crc != zlib.crc32(data[:28]) or not _FILE_HEADER.size <= header_size <= len(self._mm):
            raise ValueError(f"{self.path}: damaged recording file header (CRC mismatch)")
        return version, created_ns, header_size

    def _record_at(self, pos: int) -> tuple[RecordedMessage | None, int | str]:
        """The valid record at ``pos`` and its end offset, or None and why not."""
        size = len(self._mm)
        if size - pos < _PREFIX.size:
            return None, "partial record prefix"
        marker, header_len, payload_len, pad, _, crc = _PREFIX.unpack_from(self._mm, pos)
        if marker != RECORD_MARKER or not 0 < header_len <= MAX_HEADER_BYTES:
            return None, "no valid record prefix"
        header_at = pos + _PREFIX.size
        payload_at = header_at + header_len + pad
        end = payload_at + payload_len
        if end > size:
            return None, f"partial record ({size - pos} of {end - pos} bytes)"
        view = self._view
        actual = zlib.crc32(view[pos : pos + _NO_CRC.size])
        actual = zlib.crc32(view[payload_at:end], zlib.crc32(view[header_at:payload_at], actual))
        if actual != crc:
            return None, "CRC mismatch"
        header = bytes(view[header_at : header_at + header_len])
        return RecordedMessage(pos, header, view[payload_at:end]), end

    def _resync(self, start: int) -> int | None:
        """Offset of the next valid record at or after ``start``, or None."""
        pos = self._mm.find(RECORD_MARKER, start)
        while pos >= 0:
            if self._record_at(pos)[0] is not None:
                return pos
            pos = self._mm.find(RECORD_MARKER, pos + 1)
        return None

    def messages(self) -> Iterator[RecordedMessage]:
        """Every intact record in file order (resets ``tail_bytes`` and ``damaged``)."""
        self.tail_bytes = 0
        self.damaged = []
        pos = self._start
        while pos < len(self._mm):
            record, end_or_reason = self._record_at(pos)
            if record is not None:
                yield record
                pos = int(end_or_reason)
                continue
            nxt = self._resync(pos + 1)
            if nxt is None:
                self.tail_bytes = len(self._mm) - pos
                _log.warning(
                    "%s: ignored the last %d byte(s) at offset %d (%s): an interrupted write",
                    self.path,
                    self.tail_bytes,
                    pos,
                    end_or_reason,
                )
                return
            message = (
                f"{self.path}: damaged bytes {pos}-{nxt} ({nxt - pos} B, {end_or_reason}) "
                "in the middle of the recording"
            )
            if self.strict:
                raise ValueError(message)
            _log.warning("%s: skipped; the recording goes on at offset %d", message, nxt)
            self.damaged.append((pos, nxt - pos))
            pos = nxt

    def __iter__(self) -> Iterator[Frame]:
        """Decoded frames in file order; records that do not decode are counted in ``invalid``."""
        self.invalid = 0
        for record in self.messages():
            try:
                yield decode([record.header, record.payload], max_payload_bytes=_NO_PAYLOAD_LIMIT)
            except WireError as exc:
                self.invalid += 1
                _log.warning("%s: record at offset %d skipped: %s", self.path, record.offset, exc)

    def stats(self) -> dict[str, Any]:
        """Findings of the last pass: ignored tail bytes, damaged spans, undecodable records."""
        return {
            "tail_bytes": self.tail_bytes,
            "damaged": list(self.damaged),
            "invalid": self.invalid,
        }

    def close(self) -> None:
        """Release the map; frames still referenced keep their pages alive. Idempotent."""
        try:
            self._view.release()
            self._mm.close()
        except BufferError:  # frames still hold views: the map goes when they do
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
