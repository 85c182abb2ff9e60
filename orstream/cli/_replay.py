"""``orstream replay``: a recording sent over ZeroMQ byte for byte, with the original timing
or as fast as possible; or a PLUS sequence (``FILE.igs.mha``) served over OpenIGTLink with
``--igtl PORT`` (IMAGE and its transforms per frame, at the recorded timing: docs/openigtlink.md).

A ZeroMQ replay sends the stored bytes unchanged, waits for a receiver rather than sending to
nobody, and then for a slow receiver rather than dropping (on PUB as on PUSH); it binds and
publishes like ``sim publish`` at the default endpoint (``_argtypes.DEFAULT_SEND_ENDPOINT``).
An OpenIGTLink replay waits for its first client (3D Slicer, a pyigtl client), then plays.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

import zmq

from ..stream import (
    RecordingReader,
    ZmqFrameSender,
    default_pattern,
    install_stop_signals,
    parse_endpoint,
    serve_plus_igtl,
)
from ._argtypes import DEFAULT_SEND_ENDPOINT
from ._errors import UsageError

REPLAY_LINGER_MS = 30_000
"""How long a finished PUSH replay waits for the receiver to take the last queued frames."""
PUB_SETTLE_S = 0.3
"""Pause after the first subscriber of a PUB replay connected, for its subscription to land."""
SEND_WAIT_MS: Final = 100
"""How long one blocked send waits before replay looks at Ctrl-C again."""
PLUS_SUFFIXES: Final = (".mha", ".mhd")
"""A path ending so is a PLUS sequence (served with --igtl), not a recording."""


def _is_plus(path: Path) -> bool:
    return path.name.lower().endswith(PLUS_SUFFIXES)


def run_replay_igtl(args: argparse.Namespace) -> int:
    """Serve a PLUS sequence over OpenIGTLink at its recorded timing."""
    path = Path(args.path)
    if not _is_plus(path):
        raise UsageError(f"--igtl serves PLUS sequences (FILE.igs.mha); {path.name} is not one")
    if args.timing == "fast":
        raise UsageError("--igtl plays at the recorded timing; --fast does not apply")
    stop = threading.Event()
    install_stop_signals(stop)

    def waiting(where: str) -> None:
        print(f"orstream replay: waiting for an OpenIGTLink client on {where}", file=sys.stderr)

    summary = serve_plus_igtl(str(path), args.igtl, loop=args.loop, stop=stop, on_waiting=waiting)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"served {summary['frames']} frames of {path.name} over OpenIGTLink on "
            f"{summary['igtl']} in {summary['seconds']:.1f} s"
            + ("; interrupted" if stop.is_set() else "")
        )
    return 130 if stop.is_set() else 0


def _waiting(sender: ZmqFrameSender) -> None:
    print(f"orstream replay: waiting for a receiver on {sender.last_endpoint}", file=sys.stderr)


def _send(sender: ZmqFrameSender, parts: list[Any], stop: threading.Event) -> bool:
    """Send once a receiver can take the message; False if stopped while waiting."""
    t_note = time.monotonic() + 1.0 if sender.sent == 0 else None
    while True:
        try:
            sender.send_parts(parts)
            return True
        except zmq.Again:  # no receiver yet (PUSH), or one that is behind (both)
            if stop.is_set():
                return False
            if t_note is not None and time.monotonic() > t_note:
                t_note = None
                _waiting(sender)


def _await_subscriber(sender: ZmqFrameSender, stop: threading.Event) -> bool:
    """Wait until a subscriber has connected to a PUB replay (PUB sends to nobody without
    one); False if stopped first. One that connected before the monitor started is missed."""
    monitor = sender.socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        t_note: float | None = time.monotonic() + 1.0
        while not monitor.poll(SEND_WAIT_MS):
            if stop.is_set():
                return False
            if t_note is not None and time.monotonic() > t_note:
                t_note = None
                _waiting(sender)
    finally:
        sender.socket.disable_monitor()
        monitor.close(0)
    return not stop.wait(PUB_SETTLE_S)


def _open_sender(uri: str, stop: threading.Event) -> ZmqFrameSender | None:
    """A sender that waits for a receiver instead of sending to nobody, and for a slow one
    instead of dropping: PUB when it binds (a device), PUSH when it connects (to a collector);
    None if stopped while waiting for the first subscriber."""
    sender = ZmqFrameSender(parse_endpoint(uri), pattern=default_pattern(uri, sending=True))
    try:
        sender.socket.setsockopt(zmq.LINGER, REPLAY_LINGER_MS)
        sender.socket.setsockopt(zmq.SNDTIMEO, SEND_WAIT_MS)
        if sender.pattern == "pub":
            sender.socket.setsockopt(zmq.XPUB_NODROP, 1)  # block at the high-water mark
            if not _await_subscriber(sender, stop):
                sender.close()
                return None
        elif not sender.endpoint.bind:  # reconnect with IMMEDIATE: no queueing to nobody
            sender.socket.disconnect(sender.endpoint.address)
            sender.socket.setsockopt(zmq.IMMEDIATE, 1)
            sender.socket.connect(sender.endpoint.address)
    except BaseException:
        sender.close()
        raise
    return sender


def _replay(
    reader: RecordingReader, sender: ZmqFrameSender, realtime: bool, stop: threading.Event
) -> tuple[int, int]:
    """Send every stored message (with its original spacing if ``realtime``) until done or
    stopped; (frames, bytes) sent."""
    sent = nbytes = 0
    t0_ns: int | None = None  # the schedule starts when the first frame has left
    t_first_ns = 0
    for message in reader.messages():
        t_ns = _t_capture_ns(message.header) if realtime else None
        if t0_ns is not None and t_ns is not None:
            delay_s = (t0_ns + t_ns - t_first_ns - time.monotonic_ns()) / 1e9
            if delay_s > 0 and stop.wait(delay_s):
                break
        if stop.is_set() or not _send(sender, [message.header, message.payload], stop):
            break
        if t0_ns is None and t_ns is not None:  # a late receiver has not shifted the schedule
            t0_ns, t_first_ns = time.monotonic_ns(), t_ns
        sent += 1
        nbytes += len(message.header) + message.payload.nbytes
    return sent, nbytes


def run_replay(args: argparse.Namespace) -> int:
    if args.igtl:
        return run_replay_igtl(args)
    path = Path(args.path)
    if _is_plus(path):
        raise UsageError(f"{path.name} is a PLUS sequence: serve it with --igtl PORT")
    if not path.is_file():
        raise UsageError(f"recording {path}: {'is a folder' if path.is_dir() else 'not found'}")
    parse_endpoint(args.endpoint)  # a bad endpoint is an error before the file is opened
    reader = RecordingReader(path)
    stop = threading.Event()
    install_stop_signals(stop)
    t_start = time.monotonic()
    sender = None
    try:
        sender = _open_sender(args.endpoint, stop)
        realtime = args.timing == "realtime"
        sent, nbytes = (0, 0) if sender is None else _replay(reader, sender, realtime, stop)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a 2nd Ctrl-C ends the linger
        t_close = time.monotonic()
        if sender is not None:
            if stop.is_set():
                sender.socket.setsockopt(zmq.LINGER, 0)
            sender.close()  # waits up to REPLAY_LINGER_MS for queued frames to leave
        reader.close()
    # a close that took the whole linger left frames queued: the receiver went away
    undelivered = time.monotonic() - t_close > REPLAY_LINGER_MS / 1e3 - 0.5
    duration_s = time.monotonic() - t_start
    summary: dict[str, Any] = {
        "path": str(path),
        "to": args.endpoint,
        "pattern": default_pattern(args.endpoint, sending=True),
        "timing": args.timing,
        "frames": sent,
        "bytes": nbytes,
        "duration_s": round(duration_s, 3),
        "fps": round(sent / duration_s, 2) if duration_s > 0 else 0.0,
        "complete": not stop.is_set() and not undelivered,
        "undelivered": undelivered,
        **reader.stats(),
    }
    if undelivered:
        print(
            f"orstream replay: error: the receiver did not take the last queued frames within "
            f"{REPLAY_LINGER_MS // 1000} s; they were not delivered",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_replay(summary, interrupted=stop.is_set())
    return 130 if stop.is_set() else 1 if undelivered else 0


def _print_replay(s: dict[str, Any], interrupted: bool) -> None:
    print(
        f"sent {s['frames']} frames ({s['bytes'] / 1e6:.1f} MB) from {s['path']} to {s['to']} "
        f"({s['pattern']}, {s['timing']}) in {s['duration_s']:.1f} s"
        + ("; interrupted" if interrupted else "")
    )
    if s.get("tail_bytes"):
        print(f"ignored an interrupted last record: {s['tail_bytes']} bytes")
    if s.get("damaged"):
        spans = ", ".join(f"{o}+{n}" for o, n in s["damaged"])
        print(f"skipped damaged bytes (offset+length): {spans}")


def _t_capture_ns(header: bytes) -> int | None:
    """The header's capture time in ns, or None if it has none (then it is sent at once)."""
    try:
        value = json.loads(header).get("t_capture_ns")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def register(subparsers: Any) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="send a recording over ZeroMQ, byte for byte, or serve a PLUS sequence over "
        "OpenIGTLink",
        description="Send every recorded message unchanged (seq and timestamps included); "
        "with --igtl, serve a PLUS sequence (FILE.igs.mha) to OpenIGTLink clients such as 3D "
        "Slicer at its recorded timing.",
    )
    replay.add_argument(
        "path",
        metavar="PATH",
        help="a recording made by orstream record, or (with --igtl) a PLUS sequence FILE.igs.mha",
    )
    replay.add_argument(
        "--endpoint",
        default=DEFAULT_SEND_ENDPOINT,
        metavar="ENDPOINT",
        help="zmq+tcp://HOST:PORT (host * or ?bind=1 binds) or zmq+ipc://PATH; binding it "
        "publishes (PUB), connecting it pushes (PUSH), ?pattern= overrides; either way it "
        f"waits for receivers and never drops (default {DEFAULT_SEND_ENDPOINT})",
    )
    replay.add_argument("--to", dest="endpoint", help=argparse.SUPPRESS)  # the old name
    timing = replay.add_mutually_exclusive_group()
    timing.add_argument(
        "--realtime",
        dest="timing",
        action="store_const",
        const="realtime",
        help="keep the original inter-frame timing from t_capture_ns (default)",
    )
    timing.add_argument(
        "--fast", dest="timing", action="store_const", const="fast", help="as fast as possible"
    )
    replay.add_argument(
        "--igtl",
        nargs="?",
        const="18944",
        metavar="[HOST:]PORT",
        help="serve a PLUS sequence over OpenIGTLink on PORT (18944 when omitted; host "
        "127.0.0.1 unless given): IMAGE and transforms per frame at the recorded timing",
    )
    replay.add_argument("--loop", action="store_true", help="with --igtl: play it forever")
    replay.add_argument("--json", action="store_true", help="summary as one JSON document")
    replay.set_defaults(func=run_replay, timing="realtime")
