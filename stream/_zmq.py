"""ZeroMQ transports for wire-v1 frames: live (PUB/SUB) and lossless (PUSH/PULL), tcp and ipc.

Opens ``zmq+tcp://HOST:PORT``, ``zmq+ipc://PATH`` (and bare ``tcp://``, ``ipc://``) source
URIs through the registry: a SUB socket unless the URI says ``?pattern=pull``.

Zero copy: payloads of ``zmq.COPY_THRESHOLD`` (64 KiB) and more are handed to libzmq without a
copy on send, and on receive the frame's pixels are a view on the received message. On one
host, ``?shm=1`` sends large payloads through a shared-memory ring instead (``_shm.py``); the
sender's socket is then an XPUB, which hears which receivers follow the ring.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Final, cast

import zmq

from ._curve import apply_curve
from ._drops import DropCounter
from ._endpoint import ZMQ_SCHEMES, Endpoint, parse_endpoint
from ._frame import Frame
from ._registry import ResourceUri, register_source
from ._shm import FOLLOW_PREFIX, SHM_MIN_BYTES, ShmReader, ShmRingWriter, follow_topic
from ._wire import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_HEADER_BYTES,
    WireError,
    decode,
    encode_header,
    wire_pixels,
)

_log = logging.getLogger("orstream.stream")

LIVE_HWM: Final = 16
"""Messages a live (PUB/SUB) socket queues before it drops: small, so latency stays bounded
even if the receive thread stalls, yet enough for a burst of frames from many streams."""
LOSSLESS_HWM: Final = 1000
"""Messages a lossless (PUSH/PULL) socket queues before the sender blocks."""
_MAX_TRACKED_STREAMS: Final = 1024

_LINGER_MS: Final = {"pub": 500, "sub": 0, "push": 2000, "pull": 0}
"""How long close() waits for queued messages to leave: a live sender flushes its last frames
briefly, a lossless one longer; receivers drop what they have not read."""
_SOCKET_TYPES: Final = {"pub": zmq.PUB, "sub": zmq.SUB, "push": zmq.PUSH, "pull": zmq.PULL}


def _open_socket(
    endpoint: Endpoint, pattern: str, hwm: int, max_msg_bytes: int | None = None
) -> tuple[zmq.Context[Any], zmq.Socket[Any], Any]:
    context: zmq.Context[Any] = zmq.Context(io_threads=1)
    shm_pub = pattern == "pub" and endpoint.shm
    socket = context.socket(zmq.XPUB if shm_pub else _SOCKET_TYPES[pattern])
    auth = None
    try:
        socket.linger = _LINGER_MS[pattern]
        socket.sndhwm = hwm
        socket.rcvhwm = hwm
        if max_msg_bytes is not None:
            socket.setsockopt(zmq.MAXMSGSIZE, max_msg_bytes)
        if shm_pub:  # a PUB that hears each (un)subscription: who follows which ring
            socket.setsockopt(zmq.XPUB_VERBOSER, 1)
        if pattern == "sub":
            socket.setsockopt(zmq.SUBSCRIBE, b"")
        auth = apply_curve(socket, endpoint, context)
        if endpoint.bind:
            socket.bind(endpoint.address)
        else:
            socket.connect(endpoint.address)
    except (zmq.ZMQError, ValueError) as exc:
        socket.close(0)
        if auth is not None:  # its ZAP socket would keep context.term() waiting forever
            auth.stop()
        context.term()
        raise ValueError(f"cannot open {pattern} socket on {endpoint.address}: {exc}") from None
    return context, socket, auth


class _ZmqEndpointSocket:
    """A socket with its own context (and CURVE authenticator) on one endpoint."""

    def __init__(
        self, endpoint: str | Endpoint, pattern: str, hwm: int, max_msg_bytes: int | None
    ) -> None:
        self.endpoint = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        self.pattern = self.endpoint.pattern or pattern
        self._context, self.socket, self._auth = _open_socket(
            self.endpoint, self.pattern, hwm, max_msg_bytes
        )
        self._closed = False

    @property
    def last_endpoint(self) -> str:
        """The address bound or connected (with the real port after binding to port 0)."""
        value = self.socket.getsockopt(zmq.LAST_ENDPOINT)
        return value.decode() if isinstance(value, bytes) and value else self.endpoint.address

    def close(self) -> None:
        """Close the socket, the authenticator and the context; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.socket.close()
        if self._auth is not None:
            self._auth.stop()
        self._context.term()


class ZmqFrameSender(_ZmqEndpointSocket):
    """Sends frames on PUB (``pattern="pub"``, live: drops at the high-water mark, never
    blocks) or PUSH (``pattern="push"``, lossless: blocks while the receiver is behind).

    With ``?shm=1`` on a loopback or ipc PUB endpoint, payloads of 512 KiB and more go through
    a shared-memory ring (one copy, no socket traffic for the pixels; see ``_shm.py``), and
    their header goes on the socket only while some subscriber does not follow that ring
    (``followed_only`` counts the frames sent without it).
    """

    def __init__(
        self, endpoint: str | Endpoint, pattern: str = "pub", hwm: int | None = None
    ) -> None:
        super().__init__(endpoint, pattern, hwm or _default_hwm(pattern), None)
        if self.pattern not in ("pub", "push"):
            self.close()
            raise ValueError(f"a sender needs pattern pub or push, not {self.pattern}")
        if self.endpoint.shm and (self.pattern != "pub" or not self.endpoint.is_loopback_or_ipc):
            self.close()
            raise ValueError(
                f"{self.endpoint.address}: shm=1 is for live pub feeds to receivers on this "
                "machine (a loopback or ipc endpoint)"
            )
        self._ring: ShmRingWriter | None = None
        self._topic = b""
        self._subscribers = 0  # subscriptions other than follow topics (one per receiver)
        self._followers: dict[bytes, int] = {}  # follow topic: subscribers following it
        self.sent = 0
        self.followed_only = 0

    def send(self, frame: Frame) -> None:
        """Encode and send one frame; the pixel buffer goes to libzmq without a copy.

        The caller must not modify ``frame.pixels`` afterwards (frames are immutable).
        """
        pixels = wire_pixels(frame)
        if not self.endpoint.shm or pixels.nbytes < SHM_MIN_BYTES:
            self.send_parts([encode_header(frame), pixels])
            return
        ring = self._ring
        if ring is None or pixels.nbytes > ring.slot_bytes:
            if ring is not None:
                ring.close()
            ring = self._ring = ShmRingWriter(pixels.nbytes)
            self._topic = follow_topic(ring.name)
        header = encode_header(frame)
        ref = ring.put(pixels, header)
        if self._all_follow():
            self.sent += 1
            self.followed_only += 1
            return
        self.send_parts([encode_header(frame, shm=ref), b""])

    def _all_follow(self) -> bool:
        """True while every subscriber follows the current ring (reads the subscriptions the
        XPUB has heard: one per receiver, plus a follow topic from each that follows)."""
        while cast(int, self.socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            message = self.socket.recv()
            if message[:1] not in (b"\x00", b"\x01"):
                continue  # not a subscription (an XSUB may send anything upstream)
            change = 1 if message[:1] == b"\x01" else -1
            if message.startswith(FOLLOW_PREFIX, 1):
                topic = message[1:]
                self._followers[topic] = max(0, self._followers.get(topic, 0) + change)
            else:
                self._subscribers = max(0, self._subscribers + change)
        following = self._followers.get(self._topic, 0)
        return following > 0 and self._subscribers <= following

    def send_parts(self, parts: list[Any]) -> None:
        """Send an already encoded ``[header, payload]`` message (replay sends stored bytes)."""
        self.socket.send_multipart(parts, copy=False)
        self.sent += 1

    def close(self) -> None:
        super().close()
        ring = getattr(self, "_ring", None)
        if ring is not None:
            ring.close()
            self._ring = None


class ZmqFrameSource(_ZmqEndpointSocket):
    """Receives frames on SUB (live) or PULL (lossless), in order, one ``recv`` at a time.

    Malformed messages are dropped and counted per kind in ``malformed``; gaps in a stream's
    sequence numbers (frames lost before they reached us) are counted in ``gaps``; shared-memory
    frames whose slot was reused before they were read in ``overruns`` (they are gaps too).
    A SUB source on a loopback or ipc endpoint accepts shared-memory payloads (``_shm.py``);
    other sources refuse them (a remote or lossless sender has no business naming them).
    Rings named to :meth:`shm_follow` may stop coming on the socket: their gaps are not counted.
    Live (frames come on the sender's clock), on SUB and PULL alike. Not thread-safe: use it
    from one thread.
    """

    live = True

    def __init__(
        self,
        endpoint: str | Endpoint,
        pattern: str = "sub",
        hwm: int | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        max_msg = max(max_payload_bytes, MAX_HEADER_BYTES)
        super().__init__(endpoint, pattern, hwm or _default_hwm(pattern), max_msg)
        if self.pattern not in ("sub", "pull"):
            self.close()
            raise ValueError(f"a source needs pattern sub or pull, not {self.pattern}")
        self.max_payload_bytes = max_payload_bytes
        self.malformed = DropCounter(f"receive {self.last_endpoint}")
        self.received = 0
        self.gaps = 0
        self.overruns = 0
        self._last_seq: dict[str, int] = {}
        self._followed: set[str] = set()
        local = self.endpoint.is_loopback_or_ipc
        self._shm = ShmReader() if self.pattern == "sub" and local else None
        self._poller = zmq.Poller()
        self._poller.register(self.socket, zmq.POLLIN)

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        """The next valid frame, or None when none arrived within ``timeout_s`` seconds."""
        received = self.recv_message(timeout_s)
        return None if received is None else received[0]

    def recv_message(self, timeout_s: float | None = None) -> tuple[Frame, list[Any]] | None:
        """Like :meth:`recv`, with the message parts as received (``zmq.Frame`` objects: the
        header bytes verbatim, the payload the frame's pixels view), for a verbatim record."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            remaining_ms = (
                None if deadline is None else max(0, math.ceil((deadline - time.monotonic()) * 1e3))
            )
            if not self._poller.poll(remaining_ms):
                return None
            parts = self.socket.recv_multipart(copy=False)
            try:
                frame = decode(parts, self.max_payload_bytes, self._shm)
            except WireError as exc:
                if exc.kind == "overrun":
                    self.overruns += 1
                else:
                    self.malformed.drop(exc.kind, str(exc))
                continue
            self.received += 1
            self._count_gap(frame)
            return frame.stamp("recv"), parts

    def shm_segments(self) -> list[str]:
        """Names of the shared-memory segments this source has received frames from."""
        return self._shm.names() if self._shm is not None else []

    def shm_follow(self, name: str, following: bool) -> None:
        """Tell the sender whether this receiver follows ring ``name`` and so needs no socket
        copy of its frames (a subscription to its follow topic; from the receiving thread)."""
        if self._shm is None or following == (name in self._followed):
            return
        self.socket.setsockopt(zmq.SUBSCRIBE if following else zmq.UNSUBSCRIBE, follow_topic(name))
        (self._followed.add if following else self._followed.discard)(name)

    def _count_gap(self, frame: Frame) -> None:
        last = self._last_seq.get(frame.stream_id)
        followed = getattr(frame.lease, "segment", None) in self._followed
        if last is not None and frame.seq > last + 1 and not followed:
            self.gaps += frame.seq - last - 1
        if last is None and len(self._last_seq) >= _MAX_TRACKED_STREAMS:
            self._last_seq.pop(next(iter(self._last_seq)))
        self._last_seq[frame.stream_id] = frame.seq

    def stats(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "gaps": self.gaps,
            "overruns": self.overruns,
            "malformed": self.malformed.total,
            "malformed_by_kind": self.malformed.as_dict(),
        }


def _default_hwm(pattern: str) -> int:
    return LIVE_HWM if pattern in ("pub", "sub") else LOSSLESS_HWM


class ZmqJsonSender(_ZmqEndpointSocket):
    """Sends one-part UTF-8 JSON messages (ground truth, telemetry) on PUB or PUSH."""

    def __init__(self, endpoint: str | Endpoint, pattern: str = "pub") -> None:
        super().__init__(endpoint, pattern, _default_hwm(pattern), None)
        if self.pattern not in ("pub", "push"):
            self.close()
            raise ValueError(f"a sender needs pattern pub or push, not {self.pattern}")

    def send(self, message: dict[str, Any]) -> None:
        self.socket.send(json.dumps(message, separators=(",", ":"), allow_nan=False).encode())


def _open_zmq_source(uri: ResourceUri) -> ZmqFrameSource:
    """A live frame source on a ZeroMQ endpoint URI (SUB unless ``?pattern=`` says PULL)."""
    endpoint = parse_endpoint(uri.text)
    return ZmqFrameSource(endpoint, pattern=endpoint.pattern or "sub")


for _scheme in ZMQ_SCHEMES:
    register_source(_scheme, _open_zmq_source)
