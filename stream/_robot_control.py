"""The robot link's control socket: JSON requests on a bound ZeroMQ REP, one reply each
(docs/robot-feed.md, "Control"). No policy logic: a handler given by the caller answers.

A request is one UTF-8 JSON object of at most :data:`MAX_REQUEST_BYTES`; anything else (not
JSON, not an object, too long) is a counted, logged drop answered with
``{"ok": false, "error": "..."}``, and the server goes on. A handler that raises answers the
same way. Bound beyond this machine it needs CURVE keys, like the feed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

import zmq

from ._curve import apply_curve
from ._drops import DropCounter
from ._endpoint import Endpoint, parse_endpoint
from ._robot_feed import bound_endpoint

_log = logging.getLogger("orstream.stream.robot_control")

MAX_REQUEST_BYTES: Final = 4096
"""Longest control request taken (bytes); libzmq drops the connection of a longer one."""
_POLL_MS: Final = 50

ControlHandler = Callable[[Mapping[str, Any]], Mapping[str, Any]]
"""Answers one request (a JSON object) with a JSON-able reply; runs on the server's thread."""


class JsonControlServer:
    """Answers JSON requests on a bound REP ``endpoint`` with ``handler``, on its own thread
    from :meth:`open` until :meth:`close`. Malformed requests are counted in ``malformed``."""

    name = "robot-control"

    def __init__(self, endpoint: str | Endpoint, handler: ControlHandler) -> None:
        parsed = bound_endpoint(endpoint)
        if parsed.pattern is not None:
            raise ValueError(f"{parsed.address}: the control socket is a rep socket (no pattern)")
        self._handler = handler
        self._context: zmq.Context[Any] = zmq.Context(io_threads=1)
        self._socket = self._context.socket(zmq.REP)
        self._auth = None
        try:
            self._socket.linger = 0
            self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
            self._auth = apply_curve(self._socket, parsed, self._context)
            self._socket.bind(parsed.address)
        except (zmq.ZMQError, ValueError) as exc:
            self._socket.close(0)
            if self._auth is not None:
                self._auth.stop()
            self._context.term()
            raise ValueError(f"cannot bind the control socket {parsed.address}: {exc}") from None
        value = self._socket.getsockopt(zmq.LAST_ENDPOINT)
        self.last_endpoint = value.decode() if isinstance(value, bytes) else parsed.address
        self.malformed = DropCounter(f"control {self.last_endpoint}")
        self.handled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def open(self) -> None:
        """Start answering (idempotent)."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._serve, name="robot-control")
            self._thread.daemon = True
            self._thread.start()

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(_POLL_MS):
                continue
            raw = self._socket.recv()
            reply = self._answer(raw)
            self._socket.send(json.dumps(reply, separators=(",", ":")).encode())

    def _answer(self, raw: bytes) -> Mapping[str, Any]:
        try:
            request = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            self.malformed.drop("not_json", f"{len(raw)} bytes that are not JSON")
            return {"ok": False, "error": "the request is not UTF-8 JSON"}
        if not isinstance(request, dict):
            self.malformed.drop("not_object", f"a JSON {type(request).__name__}")
            return {"ok": False, "error": "the request must be a JSON object"}
        try:
            reply = self._handler(request)
            json.dumps(reply, allow_nan=False)
        except Exception as exc:
            self.malformed.drop("handler", f"{type(exc).__name__}: {exc}")
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        self.handled += 1
        return reply

    def close(self) -> None:
        """Stop answering and close the socket; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._socket.close(0)
        if self._auth is not None:
            self._auth.stop()
        self._context.term()


def control_request(
    endpoint: str | Endpoint, request: Mapping[str, Any], timeout_s: float = 2.0
) -> dict[str, Any]:
    """Send one JSON ``request`` to a control socket (connects, CURVE by the endpoint's
    options) and return the reply; TimeoutError when none comes within ``timeout_s``."""
    parsed = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    context: zmq.Context[Any] = zmq.Context(io_threads=1)
    socket = context.socket(zmq.REQ)
    socket.linger = 0
    try:
        apply_curve(socket, parsed, context)
        socket.connect(parsed.address)
        socket.send(json.dumps(request, separators=(",", ":"), allow_nan=False).encode())
        if not socket.poll(round(timeout_s * 1000)):
            raise TimeoutError(f"no reply from {parsed.address} within {timeout_s:g} s")
        reply = json.loads(socket.recv())
    finally:
        socket.close(0)
        context.term()
    if not isinstance(reply, dict):
        raise ValueError(f"{parsed.address}: the reply is not a JSON object")
    return reply
