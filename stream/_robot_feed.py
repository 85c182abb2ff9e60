"""The robot feed's transport: JSON messages on a bound ZeroMQ PUB, with heartbeats at a fixed
rate (docs/robot-feed.md). No policy logic: what a message says comes from its caller.

Every message is one UTF-8 JSON object with the envelope ``v`` (:data:`FEED_VERSION`), ``seq``
(per feed, from 1, +1 per message of any kind), ``t_ns`` (when it was sent, ns since the Unix
epoch) and ``kind`` (``command``, ``heartbeat``, ``transition``), then the caller's fields.
A heartbeat thread sends ``heartbeat(now_ns)``'s fields every ``1 / heartbeat_hz`` s, frames
or not, so a receiver that hears nothing for a few periods knows the sender is gone.

The feed always binds. Bound beyond this machine (a host other than loopback, or ``*``), it
needs CURVE keys (``?curve_secret=server.key_secret&curve_allow=DIR``): a robot must not take
commands anyone on the network could forge.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import zmq

from ._drops import DropCounter
from ._endpoint import Endpoint, parse_endpoint
from ._frame import Frame
from ._zmq import LIVE_HWM, ZmqJsonSender, _ZmqEndpointSocket

_log = logging.getLogger("orstream.stream.robot_feed")

FEED_VERSION: Final = 1
"""The ``v`` of every robot feed message."""
DEFAULT_HEARTBEAT_HZ: Final = 20.0
"""Heartbeats per second: 50 ms apart, so a 150 ms robot-side timeout survives two lost ones."""

_NAP_NS: Final = 5_000_000
"""Longest sleep of the heartbeat thread while a watchdog deadline may appear (ns)."""

FeedKind = Literal["command", "heartbeat", "transition"]
FEED_KINDS: Final = ("command", "heartbeat", "transition")
HeartbeatFields = Callable[[int], Mapping[str, Any]]
"""Gives a heartbeat's fields at ``now_ns`` (called on the heartbeat thread)."""


def bound_endpoint(endpoint: str | Endpoint) -> Endpoint:
    """``endpoint`` as a bound side of a robot link; ValueError when it would be reachable from
    other machines without CURVE keys and an allow-list of client keys (``curve_allow=any``
    would let any machine subscribe to the feed or send the operator's requests)."""
    parsed = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    parsed = dataclasses.replace(parsed, bind=True)
    if parsed.is_loopback_or_ipc:
        return parsed
    if parsed.curve_secret is None:
        raise ValueError(
            f"{parsed.address}: refusing to bind a robot link beyond this machine without "
            "CURVE; add ?curve_secret=server.key_secret&curve_allow=DIR (orstream keys "
            "generate), or bind 127.0.0.1"
        )
    if parsed.curve_allow == "any":
        raise ValueError(
            f"{parsed.address}: a robot link beyond this machine needs curve_allow=DIR, a "
            "folder of the allowed clients' public keys, not any"
        )
    return parsed


class RobotFeedSink:
    """A robot feed on ``endpoint`` (``zmq+tcp://127.0.0.1:5570``: bound, see the module).

    As a :class:`~orstream.stream.Sink`, ``write(frame)`` publishes a ``command`` message with
    the fields of ``frame.results[result_key].to_json()`` (frames without that result publish
    nothing). :meth:`publish` sends any kind from any thread. :meth:`open` starts the
    heartbeat thread (``heartbeat(now_ns)`` gives its fields, ``clock`` the ns it is passed and
    the envelope's ``t_ns``); a heartbeat callback that raises is logged and counted, and that
    heartbeat is not sent (silence is the fail-safe answer). ``watchdog_due()`` (optional)
    gives the time on ``clock`` by which the next heartbeat must go out, the fixed rate
    notwithstanding (a safety gate's stale-frame deadline), or None: one extra heartbeat goes
    out at each such deadline, within 5 ms (or a tenth of a period). Thread-safe.
    """

    name = "robot-feed"

    def __init__(
        self,
        endpoint: str | Endpoint,
        heartbeat: HeartbeatFields,
        *,
        result_key: str = "guidance",
        heartbeat_hz: float = DEFAULT_HEARTBEAT_HZ,
        clock: Callable[[], int] = time.time_ns,
        watchdog_due: Callable[[], int | None] | None = None,
    ) -> None:
        if not (heartbeat_hz > 0 and math.isfinite(heartbeat_hz)):
            raise ValueError(f"heartbeat_hz must be > 0 and finite (got {heartbeat_hz!r})")
        parsed = bound_endpoint(endpoint)
        if parsed.pattern not in (None, "pub"):
            raise ValueError(f"{parsed.address}: a robot feed is a pub socket")
        self._sender = ZmqJsonSender(parsed, "pub")
        self.result_key = result_key
        self.heartbeat_hz = heartbeat_hz
        self._heartbeat = heartbeat
        self._watchdog_due = watchdog_due
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self.sent: Counter[str] = Counter()
        self.heartbeat_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def last_endpoint(self) -> str:
        """The address bound (with the real port after binding port 0)."""
        return self._sender.last_endpoint

    def publish(self, kind: FeedKind, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Send one message (envelope + ``fields``); returns it. Non-finite numbers are a
        ValueError (JSON has none): the caller must say null."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the robot feed is closed")
            self._seq += 1
            message = {"v": FEED_VERSION, "seq": self._seq, "t_ns": self._clock(), "kind": kind}
            message.update(fields)
            self._sender.send(message)
            self.sent[kind] += 1
            return message

    def write(self, frame: Frame) -> None:
        result = frame.results.get(self.result_key)
        if result is not None:
            self.publish("command", result.to_json())

    def open(self) -> None:
        """Start the heartbeat thread (idempotent)."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._beat, name="robot-feed-heartbeat")
            self._thread.daemon = True
            self._thread.start()

    def _beat(self) -> None:
        period_ns = round(1e9 / self.heartbeat_hz)
        nap_ns = period_ns if self._watchdog_due is None else min(period_ns // 10, _NAP_NS)
        next_beat = time.monotonic_ns()
        honoured: int | None = None  # the watchdog deadline a heartbeat already went out for
        while not self._stop.is_set():
            deadline = None if self._watchdog_due is None else self._watchdog_due()
            if deadline == honoured:
                deadline = None
            to_deadline = None if deadline is None else deadline - self._clock()
            now = time.monotonic_ns()
            on_time = now >= next_beat
            if on_time or (to_deadline is not None and to_deadline <= 0):
                if not on_time:
                    honoured = deadline
                self._send_heartbeat()
                if on_time:  # late (a stalled thread): keep the rate from now, no burst
                    next_beat = max(next_beat + period_ns, now)
                continue
            wait_ns = min(next_beat - now, nap_ns, to_deadline or nap_ns)
            self._stop.wait(wait_ns / 1e9)

    def _send_heartbeat(self) -> None:
        try:
            self.publish("heartbeat", self._heartbeat(self._clock()))
        except Exception:
            if not self._stop.is_set():
                self.heartbeat_errors += 1
                _log.exception("robot feed heartbeat failed; this heartbeat is not sent")

    def stats(self) -> dict[str, Any]:
        return {"sent": dict(self.sent), "heartbeat_errors": self.heartbeat_errors}

    def close(self) -> None:
        """Stop the heartbeats, then close the socket; idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._sender.close()


class RobotFeedReceiver:
    """A robot's side of the feed: a SUB socket connected to ``endpoint`` (CURVE by its
    options: ``?curve_server=server.key&curve_secret=client.key_secret``).

    :meth:`recv` gives each message whose envelope is sound (a JSON object with ``v`` =
    :data:`FEED_VERSION`, an integer ``seq`` and a known ``kind``); anything else is a counted,
    logged drop in ``malformed``, and the receiver goes on. Not thread-safe: one thread.
    """

    def __init__(self, endpoint: str | Endpoint, max_message_bytes: int = 65536) -> None:
        parsed = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        if parsed.pattern not in (None, "sub"):
            raise ValueError(f"{parsed.address}: a robot feed receiver is a sub socket")
        self._socket = _ZmqEndpointSocket(parsed, "sub", LIVE_HWM, max_message_bytes)
        self.malformed = DropCounter(f"robot feed {self._socket.last_endpoint}")
        self.received = 0
        self._poller = zmq.Poller()
        self._poller.register(self._socket.socket, zmq.POLLIN)

    def recv(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """The next sound message, or None when none came within ``timeout_s`` seconds."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = (
                None if deadline is None else max(0, math.ceil((deadline - time.monotonic()) * 1e3))
            )
            if not self._poller.poll(left):
                return None
            message = self._check(self._socket.socket.recv())
            if message is not None:
                self.received += 1
                return message

    def _check(self, raw: bytes) -> dict[str, Any] | None:
        try:
            message = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            self.malformed.drop("not_json", f"{len(raw)} bytes that are not JSON")
            return None
        if not isinstance(message, dict):
            self.malformed.drop("not_object", f"a JSON {type(message).__name__}")
            return None
        if message.get("v") != FEED_VERSION:
            self.malformed.drop("version", f"v={message.get('v')!r}, expected {FEED_VERSION}")
            return None
        seq = message.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            self.malformed.drop("seq", "seq is not an integer")
            return None
        if message.get("kind") not in FEED_KINDS:
            self.malformed.drop("kind", f"kind {str(message.get('kind'))[:20]!r}")
            return None
        return message

    def close(self) -> None:
        self._socket.close()
