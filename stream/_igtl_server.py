"""An OpenIGTLink server that 3D Slicer (OpenIGTLinkIF) or any OpenIGTLink client connects
to: the ``igtl+server://HOST:PORT`` sink.

Per frame it sends, to every connected client (:mod:`._igtl_feed` builds the messages): the
IMAGE (device ``Image_Reference`` by default, the frame's spacing), a TRANSFORM per tracked
point in the image frame (``CatheterTipToImage``, ``NeedleTipToImage``, ``TargetToImage``),
the transforms the frame carries from its source (``meta["transforms"]``, e.g.
``ProbeToReference``), and the guidance gate's STATUS and STRING (device ``Guidance``).
Label maps (uint8 masks in ``frame.results``) go as IMAGEs named after their result key when
a client asks (``GET_IMAGE`` for that device, as Slicer's query node does) or, with
``labels=1``, with every frame. ``GET_STATUS`` gets the newest guidance STATUS;
``GET_IMGMETA`` / ``GET_LBMETA`` the lists of images and label maps (Slicer's remote data).

Each client has its own sender thread holding only the newest frame's messages: a slow client
loses stale frames (counted in ``stale``), never slows the pipeline. What a client sends is
read with the counted-drop receive loop of :mod:`._igtl_codec`: a bad message is a drop, a
header that cannot be trusted closes that client only.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any, Final

from ._drops import DropCounter
from ._frame import Frame
from ._igtl_codec import DEFAULT_IGTL_PORT, IgtlMessageError, recv_igtl
from ._igtl_feed import IgtlFeed
from ._registry import ResourceUri, register_sink

_log = logging.getLogger("orstream.stream")

SEND_TIMEOUT_S: Final = 2.0
"""A client that takes no bytes for this long is disconnected."""
MAX_CLIENTS: Final = 8
"""Clients served at once; one more is refused (closed at once)."""
CLIENT_MAX_BODY_BYTES: Final = 1 << 20
"""Largest body taken from a client (1 MiB): clients send queries; a larger announced body
closes that client."""


class _Client:
    """One connected client: a reader thread (its queries) and a sender thread (newest
    messages only)."""

    def __init__(
        self,
        conn: socket.socket,
        peer: str,
        on_query: Callable[[_Client, str, str], None],
        drops: DropCounter,
        on_gone: Callable[[_Client], None],
    ) -> None:
        self.conn, self.peer = conn, peer
        self._on_query, self._drops, self._on_gone = on_query, drops, on_gone
        self._pending: list[bytes] | None = None
        self._replies: list[bytes] = []
        self._busy = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.sent = self.stale = 0
        conn.settimeout(0.2)
        self._reader = threading.Thread(target=self._read, name=f"igtl-read {peer}", daemon=True)
        self._sender = threading.Thread(target=self._send, name=f"igtl-send {peer}", daemon=True)
        self._reader.start()
        self._sender.start()

    def offer(self, packets: list[bytes], *, reply: bool = False) -> None:
        """Queue a frame's ``packets`` in place of an unsent frame's (counted ``stale``), or
        with ``reply`` a query's answer, which is always sent (before the frame)."""
        with self._cond:
            if reply:
                self._replies += packets
            else:
                self.stale += self._pending is not None
                self._pending = packets
            self._cond.notify()

    def _send(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while self._pending is None and not self._replies and not self._stop.is_set():
                    self._cond.wait(0.5)
                packets = self._replies + (self._pending or [])
                self._pending, self._replies = None, []
                self._busy = bool(packets)
            if not packets:
                continue
            try:
                for packet in packets:
                    self._sendall(packet)
                self.sent += 1
            except OSError as exc:
                _log.info("igtl: client %s gone (%s)", self.peer, type(exc).__name__)
                self.close()
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def flush(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for what is queued to have been sent."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._stop.is_set()
                    or (self._pending is None and not self._replies and not self._busy)
                ),
                timeout_s,
            )

    def _sendall(self, packet: bytes) -> None:
        view = memoryview(packet)
        idle = 0.0
        while view and not self._stop.is_set():
            try:
                n = self.conn.send(view)
            except TimeoutError:
                idle += 0.2
                if idle >= SEND_TIMEOUT_S:
                    raise
                continue
            view, idle = view[n:], 0.0

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                got = recv_igtl(self.conn, self._stop, max_body_bytes=CLIENT_MAX_BODY_BYTES)
            except IgtlMessageError as drop:
                self._drops.drop(drop.kind, f"{self.peer}: {drop}")
                if drop.fatal:
                    break
                continue
            except OSError:
                break
            if got is None:
                break
            header, _ = got
            if header.type.startswith("GET_"):
                self._on_query(self, header.type, header.device)
        self.close()

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)
        self.conn.close()
        self._on_gone(self)


class IgtlServerSink:
    """OpenIGTLink server on ``host:port`` (127.0.0.1 and 18944 by default; port 0 picks a
    free one, see ``port``). ``image_device``: the IMAGE's device name (None: no image);
    ``labels``: send label maps with every frame, not only when asked. Binds at construction
    (OSError when the port is taken); ``close`` is idempotent; thread-safe."""

    name = "igtl"

    def __init__(
        self,
        port: int = DEFAULT_IGTL_PORT,
        host: str = "127.0.0.1",
        *,
        image_device: str | None = "Image_Reference",
        labels: bool = False,
    ) -> None:
        self.feed = IgtlFeed(image_device=image_device, labels=labels)
        self.drops = DropCounter(f"igtl server {host}:{port}")
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self.host, self.port = host, int(self._listener.getsockname()[1])
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.frames = self.connections = self.refused = self._stale_gone = 0
        self._accept = threading.Thread(target=self._serve, name="igtl-accept", daemon=True)
        self._accept.start()

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with self._lock:
                if len(self._clients) >= MAX_CLIENTS:
                    self.refused += 1
                    conn.close()
                    continue
                self.connections += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = _Client(conn, f"{addr[0]}:{addr[1]}", self._answer, self.drops, self._gone)
            with self._lock:
                self._clients.append(client)
            _log.info("igtl: client %s connected", client.peer)

    def _gone(self, client: _Client) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)
                self._stale_gone += client.stale

    def _answer(self, client: _Client, kind: str, device: str) -> None:
        """Reply to a client's ``GET_*`` query (unknown devices and types: a counted drop)."""
        packets = self.feed.answer(kind, device)
        if packets is None:
            self.drops.drop("query", f"{kind} {device!r}: nothing to answer with")
            return
        client.offer(packets, reply=True)

    def write(self, frame: Frame) -> None:
        """Send ``frame``'s messages to every client (newest wins for a client still busy)."""
        with self._lock:
            clients = list(self._clients)
        packets = self.feed.update(frame, pack=bool(clients))
        self.frames += 1
        for client in clients:
            client.offer(packets)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            clients, stale_gone = list(self._clients), self._stale_gone
        return {
            "frames": self.frames,
            "clients": len(clients),
            "connections": self.connections,
            "refused": self.refused,
            "stale": stale_gone + sum(c.stale for c in clients),
            "drops": self.drops.as_dict(),
            "skipped": self.feed.skipped.as_dict(),
        }

    def close(self, flush_s: float = 1.0) -> None:
        """Stop serving and disconnect every client, after up to ``flush_s`` seconds for each
        to take what is queued for it; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.flush(flush_s)
            client.close()
        self._accept.join(timeout=2.0)


def parse_host_port(uri: ResourceUri, default_host: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` or ``:PORT`` or ``PORT`` in ``uri.target``."""
    host, sep, port = uri.target.rstrip("/").rpartition(":")
    if not sep:
        host, port = "", uri.target.rstrip("/")
    try:
        number = int(port) if port else DEFAULT_IGTL_PORT
    except ValueError:
        raise ValueError(f"{uri.text!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"{uri.text!r}: port {number} is out of range")
    return host.strip("[]") or default_host, number


def open_igtl_server(uri: ResourceUri) -> IgtlServerSink:
    """``igtl+server://[HOST]:PORT[?labels=1&image=NAME]``: an OpenIGTLink server."""
    uri.check_keys({"labels", "image"})
    host, port = parse_host_port(uri, "127.0.0.1")
    image = uri.query.get("image", "Image_Reference")
    if len(image.encode()) > 20:
        raise ValueError(f"{uri.text!r}: image device name over 20 bytes")
    try:
        return IgtlServerSink(port, host, image_device=image or None, labels=uri.flag("labels"))
    except OSError as exc:
        raise ValueError(f"{uri.text!r}: cannot listen on {host}:{port} ({exc.strerror})") from None


register_sink("igtl+server", open_igtl_server)
