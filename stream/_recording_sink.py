"""The lossless recording path of the pipeline (:class:`RecordingSink`) and a pipeline source
over a recording (:class:`RecordingSource`). The file format is in ``_recording.py``.

Registers ``file:PATH`` and ``orsrec:PATH`` as source and sink URIs (a sink takes
``?overwrite=1`` to replace an existing file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from typing import Any, Final, Self

from ._frame import Frame
from ._protocols import IterableSource
from ._recording import RecordingReader, RecordingWriter, checked_parts, encoded_parts
from ._registry import ResourceUri, register_sink, register_source

_log = logging.getLogger("orstream.stream")

DEFAULT_MAX_QUEUE_BYTES: Final = 256 * 1024 * 1024
"""Pixel bytes a :class:`RecordingSink` queues for the disk before ``write`` blocks."""


class RecordingSource(IterableSource):
    """A pipeline source over a recording: every frame in file order, as fast as it is pulled.

    ``recv`` returns None and sets ``exhausted`` at the end of the file; pixels are views on
    the file's memory map (see :class:`RecordingReader`). Not live.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.reader = RecordingReader(path)
        super().__init__(self.reader)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.reader.stats()}

    def close(self) -> None:
        super().close()
        self.reader.close()


class RecordingSink:
    """The lossless recording path: every frame written goes to the file, in order.

    ``write`` queues the frame (a view, no pixel copy: do not modify pixels afterwards) and
    returns at once; a writer thread appends to a :class:`RecordingWriter`. Memory bound: the
    queue holds at most ``max_queue_bytes`` of pixel payload (plus one frame larger than the
    bound). When the disk is slower than the stream the queue fills to the bound and then
    ``write`` blocks until the writer catches up: lossless beats live on this path (time spent
    blocked is in ``blocked_s``). If the disk fails (full, removed) the error is logged once
    and kept in ``error``, the file is closed with every record written so far intact, and
    later frames are counted in ``lost`` instead of raising, so the engine keeps running.
    """

    name = "record"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        fsync_interval_s: float = 1.0,
    ) -> None:
        self._writer = RecordingWriter(path, overwrite=overwrite, fsync_interval_s=fsync_interval_s)
        self.path = self._writer.path
        self.max_queue_bytes = max_queue_bytes
        self.queued_bytes = 0
        self.peak_queued_bytes = 0
        self.blocked_s = 0.0
        self.lost = 0
        self.overwritten = 0
        self.error: Exception | None = None
        self._warned = False
        self._queue: deque[tuple[bytes, memoryview]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="orstream-record", daemon=True)
        self._thread.start()

    @property
    def frames(self) -> int:
        """Frames in the file so far."""
        return self._writer.frames

    @property
    def nbytes(self) -> int:
        """Size of the file so far, in bytes."""
        return self._writer.nbytes

    def write(self, frame: Frame) -> None:
        """Queue one frame (raises WireError if it cannot be wire-encoded).

        Pixels in a shared-memory ring are copied first, since the ring reuses its slots; a
        frame whose slot was reused before the copy finished was lost upstream: counted in
        ``overwritten``, not recorded."""
        if frame.lease is None:
            self._put(*encoded_parts(frame))
            return
        header, payload = encoded_parts(frame)
        owned = memoryview(bytes(payload))
        if not frame.intact():
            with self._cond:
                self.overwritten += 1
            return
        self._put(header, owned)

    def write_parts(self, header: Any, payload: Any) -> None:
        """Queue a received ``[header, payload]`` message to store verbatim (WireError if bad)."""
        self._put(*checked_parts(header, payload))

    def _put(self, header: bytes, payload: memoryview) -> None:
        size = payload.nbytes
        with self._cond:
            if self._closing:
                raise ValueError(f"{self.path}: recording sink is closed")
            if self.queued_bytes and self.queued_bytes + size > self.max_queue_bytes:
                t0 = time.monotonic()
                if not self._warned:
                    self._warned = True
                    _log.warning("%s: disk slower than the stream; recording blocks", self.path)
                self._cond.wait_for(
                    lambda: (
                        self.error is not None
                        or self._closing
                        or not self.queued_bytes
                        or self.queued_bytes + size <= self.max_queue_bytes
                    )
                )
                self.blocked_s += time.monotonic() - t0
                if self._closing:  # closed while we waited: the writer may be gone
                    raise ValueError(f"{self.path}: recording sink is closed")
            if self.error is not None:
                self.lost += 1
                return
            self._queue.append((header, payload))
            self.queued_bytes += size
            self.peak_queued_bytes = max(self.peak_queued_bytes, self.queued_bytes)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._closing:
                    self._cond.wait(self._writer.fsync_interval_s)
                if not self._queue and self._closing:
                    break
                item = self._queue.popleft() if self._queue else None
            try:
                if item is None:
                    self._writer.sync_if_due()
                else:
                    self._writer.write_record(*item)
            except Exception as exc:  # disk full, I/O error: keep the engine running
                self._fail(exc, item)
                return
            if item is not None:
                with self._cond:
                    self.queued_bytes -= item[1].nbytes
                    self._cond.notify_all()
        try:
            self._writer.close()
        except OSError as exc:
            self._fail(exc, None)

    def _fail(self, exc: Exception, item: tuple[bytes, memoryview] | None) -> None:
        with self._cond:
            self.error = exc
            self.lost += len(self._queue) + (item is not None)
            self._queue.clear()
            self.queued_bytes = 0
            self._cond.notify_all()
        _log.error("%s: recording stopped after %d frames: %s", self.path, self.frames, exc)
        with contextlib.suppress(OSError):
            self._writer.close()

    def stats(self) -> dict[str, Any]:
        """Counts so far: frames and bytes in the file, queue, blocking, losses, error."""
        return {
            "frames": self.frames,
            "bytes": self.nbytes,
            "queued_frames": len(self._queue),
            "queued_bytes": self.queued_bytes,
            "peak_queued_bytes": self.peak_queued_bytes,
            "blocked_s": round(self.blocked_s, 3),
            "lost": self.lost,
            "overwritten": self.overwritten,
            "error": None if self.error is None else str(self.error),
        }

    def close(self) -> None:
        """Write everything queued, sync and close the file; idempotent, never raises."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _path(uri: ResourceUri) -> str:
    if not uri.target:
        raise ValueError(f"{uri.text!r}: no path; expected {uri.scheme}:PATH")
    return uri.target


def _open_recording_source(uri: ResourceUri) -> RecordingSource:
    """Every frame of a recording, in order (not live)."""
    uri.check_keys(set())
    try:
        return RecordingSource(_path(uri))
    except OSError as exc:
        raise ValueError(f"{uri.text!r}: cannot read the recording ({exc.strerror})") from None


def _open_recording_sink(uri: ResourceUri) -> RecordingSink:
    """A lossless recording of every frame given; ``?overwrite=1`` replaces a file."""
    uri.check_keys({"overwrite"})
    overwrite = uri.flag("overwrite")
    try:
        return RecordingSink(_path(uri), overwrite=overwrite)
    except OSError as exc:
        raise ValueError(f"{uri.text!r}: cannot record ({exc.strerror})") from None


for _scheme in ("file", "orsrec"):
    register_source(_scheme, _open_recording_source)
    register_sink(_scheme, _open_recording_sink)
