"""Frames from an OpenIGTLink server (a PLUS server, Slicer, ``orstream replay --igtl``): the
``igtl://HOST:PORT`` source.

A receiver thread connects (and reconnects, every ``RECONNECT_S``), reads whole messages with
the counted-drop loop of :mod:`._igtl_codec` and keeps the newest TRANSFORM of each name.
Each IMAGE becomes a frame: pixels (H, W) or (H, W, C) in native byte order, spacing from the
image matrix, ``t_capture_ns`` from the message timestamp (the sender's clock; now when the
sender leaves it zero), and ``meta["transforms"]``: name -> 4x4 nested list of the newest
transforms received so far (e.g. ``ProbeToReference``), ``meta["igtl_device"]`` its device.

Options: ``device`` (take IMAGEs of this device only; others are counted drops), ``stream``
(stream id; default the image's device name), ``modality`` (``us`` by default),
``max_body_mb`` (largest accepted body, MiB; 64). A zero-length or oversized body, a bad CRC, a
body that does not unpack or a wrong device is a counted drop (``stats()["drops"]``), never a
hang; after a header that cannot be trusted the connection is closed and made again.
The source is live: a frame not taken before the next arrives is replaced (``stale``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Final

import numpy as np

from ._drops import DropCounter
from ._frame import Frame, Modality, make_frame
from ._igtl_codec import (
    DEFAULT_MAX_BODY_BYTES,
    IgtlHeader,
    IgtlMessageError,
    image_pixels,
    recv_igtl,
    unpack_igtl,
)
from ._igtl_server import parse_host_port
from ._registry import ResourceUri, register_source
from ._wire import MAX_STREAM_ID_CHARS

_log = logging.getLogger("orstream.stream")

RECONNECT_S: Final = 0.5
"""Pause between connection attempts (s)."""


class IgtlSource:
    """A live source of the IMAGE messages an OpenIGTLink server sends to ``host:port``."""

    live = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        device: str | None = None,
        stream_id: str | None = None,
        modality: Modality | str = Modality.US,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.host, self.port = host, port
        self.device, self.stream_id = device, stream_id
        self.modality = Modality(modality)
        self.max_body_bytes = max_body_bytes
        self.drops = DropCounter(f"igtl {host}:{port}")
        self.received = self.stale = self.connections = 0
        self.exhausted = False
        self._transforms: dict[str, list[list[float]]] = {}
        self._newest: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="igtl-source", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                self._stop.wait(RECONNECT_S)
                continue
            sock.settimeout(0.2)
            self._sock = sock
            self.connections += 1
            try:
                self._receive(sock)
            finally:
                sock.close()
                self._sock = None
            self._stop.wait(RECONNECT_S)

    def _receive(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                got = recv_igtl(sock, self._stop, max_body_bytes=self.max_body_bytes)
                if got is None:
                    return
                self._take(*got)
            except IgtlMessageError as drop:
                self.drops.drop(drop.kind, str(drop))
                if drop.fatal:
                    return
            except OSError as exc:
                _log.info("igtl %s:%d: connection lost (%s)", self.host, self.port, exc)
                return

    def _take(self, header: IgtlHeader, body: bytes) -> None:
        if header.type == "TRANSFORM":
            message = unpack_igtl(header, body)
            matrix = np.asarray(message.matrix, dtype=np.float64)
            if not np.all(np.isfinite(matrix)):
                raise IgtlMessageError("malformed", f"TRANSFORM {header.device!r}: not finite")
            self._transforms[header.device] = matrix.tolist()
            return
        if header.type != "IMAGE":
            return  # STATUS, STRING, queries: nothing a frame needs
        if self.device is not None and header.device != self.device:
            raise IgtlMessageError(
                "device", f"IMAGE from {header.device!r}, expected {self.device!r}"
            )
        pixels, spacing = image_pixels(unpack_igtl(header, body))
        t_ns = round(header.timestamp_s * 1e9) if header.timestamp_s > 0 else time.time_ns()
        frame = make_frame(
            pixels,
            self.stream_id or header.device[:MAX_STREAM_ID_CHARS] or "igtl",
            self.received,
            t_capture_ns=t_ns,
            modality=self.modality,
            spacing_mm=spacing,
            meta={"transforms": dict(self._transforms), "igtl_device": header.device},
        )
        frame.stamp("recv")
        with self._cond:
            if self._newest is not None:
                self.stale += 1
            self._newest = frame
            self.received += 1
            self._cond.notify()

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        """The newest frame not yet taken; None when none came within ``timeout_s`` (s)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while self._newest is None and not self._stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left if left is not None else 0.5)
            frame, self._newest = self._newest, None
        return frame

    def stats(self) -> dict[str, Any]:
        drops = self.drops.as_dict()
        return {
            "received": self.received,
            "stale": self.stale,
            "connections": self.connections,
            "malformed": sum(drops.values()),
            "drops": drops,
        }

    def close(self) -> None:
        """Disconnect and stop; a waiting :meth:`recv` returns None; idempotent."""
        self._stop.set()
        self.exhausted = True
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=2.0)


def _open_igtl(uri: ResourceUri) -> IgtlSource:
    """``igtl://HOST:PORT[?device=NAME&stream=ID&modality=M&max_body_mb=N]``."""
    uri.check_keys({"device", "stream", "modality", "max_body_mb"})
    host, port = parse_host_port(uri, "127.0.0.1")
    modality = uri.query.get("modality", Modality.US.value)
    if modality not in {m.value for m in Modality}:
        raise ValueError(f"{uri.text!r}: modality must be one of {[m.value for m in Modality]}")
    stream = uri.query.get("stream")
    if stream is not None and not 0 < len(stream) <= MAX_STREAM_ID_CHARS:
        raise ValueError(f"{uri.text!r}: stream must be 1-{MAX_STREAM_ID_CHARS} characters")
    max_mb: float = uri.number("max_body_mb", DEFAULT_MAX_BODY_BYTES / 2**20)
    return IgtlSource(
        host,
        port,
        device=uri.query.get("device"),
        stream_id=stream,
        modality=modality,
        max_body_bytes=round(max_mb * 2**20),
    )


register_source("igtl", _open_igtl)
