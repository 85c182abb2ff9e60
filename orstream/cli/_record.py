"""``orstream record`` and ``orstream replay``: lossless recording of a ZeroMQ stream, and
bit-exact replay with the original timing or as fast as possible.

The file format is ``docs/recording-format.md``. ``record`` stores each received message
verbatim (header bytes and payload); malformed messages are counted per kind, never stored.
After a stop (signal or duration) it still records what had already reached its socket, until
none came for ``DRAIN_QUIET_S`` (at most ``DRAIN_MAX_S``), then closes the file cleanly.
``replay`` sends the stored bytes unchanged and, on PUSH, waits for a receiver rather than
queueing frames to nobody.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from ..stream import (
    RecordingReader,
    RecordingSink,
    ZmqFrameSender,
    ZmqFrameSource,
    install_stop_signals,
    parse_endpoint,
)
from ..stream._endpoint import ZMQ_SCHEMES
from ._argtypes import positive_float, positive_int
from ._errors import UsageError

DRAIN_QUIET_S = 0.25
"""After a stop, keep taking messages that reached us until none came for this long (s)..."""
DRAIN_MAX_S = 2.0
"""...or for at most this long (s)."""
REPLAY_LINGER_MS = 30_000
"""How long a finished PUSH replay waits for the receiver to take the last queued frames."""
PUB_SETTLE_S = 0.3
"""Pause before a PUB replay starts, so subscribers can connect (PUB drops without them)."""


def _zmq_uri(uri: str) -> str:
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if scheme in ZMQ_SCHEMES:
        return uri
    raise UsageError(
        f"source {uri!r}: {scheme or 'this source'} is not supported by record yet "
        "(use zmq+tcp://HOST:PORT or zmq+ipc://PATH)"
    )


def _take(source: ZmqFrameSource, sink: RecordingSink, timeout_s: float) -> bool:
    """Record the next valid message verbatim; False if none came within ``timeout_s``."""
    received = source.recv_message(timeout_s)
    if received is None:
        return False
    frame, parts = received
    if frame.lease is not None:  # pixels in a shared-memory ring: store them, not the slot
        sink.write(frame)
    else:
        sink.write_parts(parts[0].bytes, parts[1])
    return True


def run_record(args: argparse.Namespace) -> int:
    uri = _zmq_uri(args.source)
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file path")
    if out.exists() and not args.overwrite:
        raise UsageError(f"--out {out}: exists; pass --overwrite to replace it")
    stop = threading.Event()
    install_stop_signals(stop)
    source = ZmqFrameSource(parse_endpoint(uri), pattern="pull")
    try:
        sink = RecordingSink(
            out, overwrite=args.overwrite, max_queue_bytes=int(args.max_queue_mb * 2**20)
        )
    except BaseException:
        source.close()
        raise
    address = source.last_endpoint
    print(
        f"orstream record: {source.pattern} {address} -> {out} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.monotonic()
    t_end = None if args.duration is None else t0 + args.duration
    stopped_by = "signal"
    try:
        while True:
            now = time.monotonic()
            if stop.is_set():
                break
            if args.frames is not None and source.received >= args.frames:
                stopped_by = "frames"
                break
            if t_end is not None and now >= t_end:
                stopped_by = "duration"
                break
            if sink.error is not None:
                stopped_by = "error"
                break
            _take(source, sink, 0.1 if t_end is None else max(0.0, min(0.1, t_end - now)))
        if stopped_by in ("signal", "duration"):  # take what had already reached us
            t_drain_end = time.monotonic() + DRAIN_MAX_S
            while time.monotonic() < t_drain_end and _take(source, sink, DRAIN_QUIET_S):
                pass
    finally:
        source.close()
        sink.close()
    duration_s = time.monotonic() - t0
    stats = sink.stats()
    summary: dict[str, Any] = {
        "path": str(out),
        "source": args.source,
        "endpoint": address,
        "pattern": source.pattern,
        "frames": stats["frames"],
        "bytes": stats["bytes"],
        "duration_s": round(duration_s, 3),
        "fps": round(stats["frames"] / duration_s, 2) if duration_s > 0 else 0.0,
        "malformed": source.malformed.total,
        "malformed_by_kind": source.malformed.as_dict(),
        "gaps": source.gaps,
        "lost": stats["lost"],
        "blocked_s": stats["blocked_s"],
        "peak_queued_bytes": stats["peak_queued_bytes"],
        "stopped_by": stopped_by,
        "error": stats["error"],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_record(summary)
    if sink.error is not None:
        print(f"orstream record: error: writing {out} failed: {sink.error}", file=sys.stderr)
        return 1
    return 0


def _print_record(s: dict[str, Any]) -> None:
    print(
        f"recorded {s['frames']} frames ({s['bytes'] / 1e6:.1f} MB) from {s['endpoint']} "
        f"to {s['path']} in {s['duration_s']:.1f} s ({s['fps']:.1f} fps); stopped by "
        f"{s['stopped_by']}"
    )
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(s["malformed_by_kind"].items()))
    print(f"malformed messages dropped: {s['malformed']}" + (f" ({kinds})" if kinds else ""))
    print(f"sequence gaps: {s['gaps']} frame(s) missing upstream of the recorder")
    if s["lost"]:
        print(f"NOT recorded after a write error: {s['lost']} frame(s)")


def _send(sender: ZmqFrameSender, parts: list[Any], stop: threading.Event) -> bool:
    """Send once the socket can take the message; False if stopped while waiting."""
    t_waiting: float | None = time.monotonic() + 1.0
    while not sender.socket.poll(100, zmq.POLLOUT):
        if stop.is_set():
            return False
        if t_waiting is not None and time.monotonic() > t_waiting:
            t_waiting = None
            print(
                f"orstream replay: waiting for a receiver on {sender.endpoint.address}",
                file=sys.stderr,
                flush=True,
            )
    sender.send_parts(parts)
    return True


def _open_sender(to: str) -> ZmqFrameSender:
    """A PUSH (or ``?pattern=pub``) sender that queues frames only to connected receivers."""
    sender = ZmqFrameSender(parse_endpoint(to), pattern="push")
    if sender.pattern == "pub":
        time.sleep(PUB_SETTLE_S)
        return sender
    sender.socket.setsockopt(zmq.LINGER, REPLAY_LINGER_MS)
    if not sender.endpoint.bind:  # reconnect with IMMEDIATE: no queueing to an absent peer
        sender.socket.disconnect(sender.endpoint.address)
        sender.socket.setsockopt(zmq.IMMEDIATE, 1)
        sender.socket.connect(sender.endpoint.address)
    return sender


def run_replay(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"recording {path}: {'is a folder' if path.is_dir() else 'not found'}")
    parse_endpoint(args.to)  # a bad endpoint is an error before the file is opened
    reader = RecordingReader(path)
    stop = threading.Event()
    install_stop_signals(stop)
    try:
        sender = _open_sender(args.to)
    except BaseException:
        reader.close()
        raise
    realtime = args.timing == "realtime"
    sent = nbytes = 0
    t0_ns: int | None = None
    t_first_ns = 0
    t_start = time.monotonic()
    try:
        for message in reader.messages():
            if realtime:
                t_ns = _t_capture_ns(message.header)
                if t0_ns is None and t_ns is not None:
                    t0_ns, t_first_ns = time.monotonic_ns(), t_ns
                elif t0_ns is not None and t_ns is not None:
                    delay_s = (t0_ns + t_ns - t_first_ns - time.monotonic_ns()) / 1e9
                    if delay_s > 0 and stop.wait(delay_s):
                        break
            if stop.is_set() or not _send(sender, [message.header, message.payload], stop):
                break
            sent += 1
            nbytes += len(message.header) + message.payload.nbytes
    finally:
        if stop.is_set():
            sender.socket.setsockopt(zmq.LINGER, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a 2nd Ctrl-C ends the linger
        t_close = time.monotonic()
        sender.close()  # waits up to REPLAY_LINGER_MS for queued frames to leave
        reader.close()
    # a close that took the whole linger left frames queued: the receiver went away
    undelivered = sender.pattern == "push" and time.monotonic() - t_close > (
        REPLAY_LINGER_MS / 1e3 - 0.5
    )
    duration_s = time.monotonic() - t_start
    summary: dict[str, Any] = {
        "path": str(path),
        "to": args.to,
        "pattern": sender.pattern,
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
        print(
            f"sent {sent} frames ({nbytes / 1e6:.1f} MB) from {path} to {args.to} "
            f"({sender.pattern}, {args.timing}) in {duration_s:.1f} s"
            + ("; interrupted" if stop.is_set() else "")
        )
        if reader.tail_bytes:
            print(f"ignored an interrupted last record: {reader.tail_bytes} bytes")
        if reader.damaged:
            spans = ", ".join(f"{o}+{n}" for o, n in reader.damaged)
            print(f"skipped damaged bytes (offset+length): {spans}")
    return 130 if stop.is_set() else 1 if undelivered else 0


def _t_capture_ns(header: bytes) -> int | None:
    """The header's capture time in ns, or None if it has none (then it is sent at once)."""
    try:
        value = json.loads(header).get("t_capture_ns")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def register(subparsers: Any) -> None:
    record = subparsers.add_parser(
        "record",
        help="record a ZeroMQ stream losslessly to a file",
        description="Record every valid frame of a ZeroMQ stream to a recording file "
        "(docs/recording-format.md). Stops on Ctrl-C/SIGTERM, after --frames or --duration.",
    )
    record.add_argument(
        "--source",
        required=True,
        metavar="URI",
        help="zmq+tcp://HOST:PORT (host * binds) or zmq+ipc://PATH; PULL by default "
        "(lossless), ?pattern=sub for a PUB feed",
    )
    record.add_argument("--out", required=True, metavar="PATH", help="the recording to write")
    record.add_argument("--frames", type=positive_int, metavar="N", help="stop after N frames")
    record.add_argument("--duration", type=positive_float, metavar="S", help="stop after S s")
    record.add_argument("--overwrite", action="store_true", help="replace an existing file")
    record.add_argument(
        "--max-queue-mb",
        type=positive_float,
        default=256.0,
        metavar="MB",
        help="memory for frames waiting for the disk; when full, receiving waits (default 256)",
    )
    record.add_argument("--json", action="store_true", help="summary as one JSON document")
    record.set_defaults(func=run_record)

    replay = subparsers.add_parser(
        "replay",
        help="send a recording over ZeroMQ, byte for byte",
        description="Send every recorded message unchanged (seq and timestamps included).",
    )
    replay.add_argument("path", metavar="PATH", help="a recording made by orstream record")
    replay.add_argument(
        "--to",
        required=True,
        metavar="ENDPOINT",
        help="zmq+tcp://HOST:PORT (host * binds) or zmq+ipc://PATH; PUSH by default, "
        "?pattern=pub for subscribers",
    )
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
    replay.add_argument("--json", action="store_true", help="summary as one JSON document")
    replay.set_defaults(func=run_replay, timing="realtime")
