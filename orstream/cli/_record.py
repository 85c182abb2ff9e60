"""``orstream record`` and ``orstream replay``: lossless recording of a ZeroMQ stream, and
bit-exact replay with the original timing or as fast as possible.

The file format is ``docs/recording-format.md``. ``record`` stores each received message
verbatim (header bytes and payload); malformed messages are counted per kind, never stored.
After a stop (signal or duration) it still records what had already reached its socket, until
none came for ``DRAIN_QUIET_S`` (at most ``DRAIN_MAX_S``), then closes the file cleanly. On a
PUB feed, which cannot wait for us, the subscription holds up to ``RECORD_SUB_HWM`` messages
while this process or its disk is behind, so a stall costs memory, not frames.
``replay`` sends the stored bytes unchanged, waits for a receiver rather than sending to
nobody, and then for a slow receiver rather than dropping (on PUB as on PUSH).

Both meet the other commands at their defaults (``_argtypes.DEFAULT_ENDPOINT``): ``record``
connects and subscribes like ``run``; ``replay`` binds and publishes like ``sim publish``.
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
    RecordingSink,
    ZmqFrameSender,
    ZmqFrameSource,
    default_pattern,
    install_stop_signals,
    parse_endpoint,
)
from ._argtypes import DEFAULT_ENDPOINT, DEFAULT_SEND_ENDPOINT, positive_float, positive_int
from ._errors import UsageError, warn_if_no_frames

DRAIN_QUIET_S = 0.25
"""After a stop, keep taking messages that reached us until none came for this long (s)..."""
DRAIN_MAX_S = 2.0
"""...or for at most this long (s)."""
REPLAY_LINGER_MS = 30_000
"""How long a finished PUSH replay waits for the receiver to take the last queued frames."""
PUB_SETTLE_S = 0.3
"""Pause after the first subscriber of a PUB replay connected, for its subscription to land."""
RECORD_SUB_HWM: Final = 100_000
"""Messages a recording subscriber holds in memory while it is behind (over half an hour of a
50-fps feed); past that ZeroMQ drops, and the drops show as sequence gaps."""
SEND_WAIT_MS: Final = 100
"""How long one blocked send waits before replay looks at Ctrl-C again."""


def _zmq_uri(uri: str) -> str:
    """``uri`` if it names a ZeroMQ endpoint (zmq+tcp, zmq+ipc, tcp, ipc), else UsageError."""
    scheme = uri.partition(":")[0] if ":" in uri else ""
    if scheme.removeprefix("zmq+") in ("tcp", "ipc"):
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
    pattern = default_pattern(uri, sending=False)
    hwm = RECORD_SUB_HWM if pattern == "sub" else None
    source = ZmqFrameSource(parse_endpoint(uri), pattern=pattern, hwm=hwm)
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
    hint = warn_if_no_frames(
        args.source, lambda: source.received + source.malformed.total, source.pattern
    )
    t0 = time.monotonic()
    t_end = None if args.duration is None else t0 + args.duration
    stopped_by = "signal"
    try:
        while not stop.is_set():
            now = time.monotonic()
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
        hint.cancel()
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
    path = Path(args.path)
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
    record = subparsers.add_parser(
        "record",
        help="record a ZeroMQ stream losslessly to a file",
        description="Record every valid frame of a ZeroMQ stream to a recording file "
        "(docs/recording-format.md). Stops on Ctrl-C/SIGTERM, after --frames or --duration.",
    )
    record.add_argument(
        "--source",
        default=DEFAULT_ENDPOINT,
        metavar="URI",
        help="zmq+tcp://HOST:PORT (host * binds) or zmq+ipc://PATH; connecting it subscribes "
        "(SUB), binding it pulls (PULL), ?pattern= overrides (default "
        f"{DEFAULT_ENDPOINT}, where sim publish and replay send by default)",
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
    replay.add_argument("--json", action="store_true", help="summary as one JSON document")
    replay.set_defaults(func=run_replay, timing="realtime")
