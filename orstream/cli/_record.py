"""``orstream record``: lossless recording of a ZeroMQ stream (``orstream replay``, its
counterpart, is in ``_replay``).

The file format is ``docs/recording-format.md``. ``record`` stores each received message
verbatim (header bytes and payload); malformed messages are counted per kind, never stored.
After a stop (signal or duration) it still records what had already reached its socket, until
none came for ``DRAIN_QUIET_S`` (at most ``DRAIN_MAX_S``), then closes the file cleanly. On a
PUB feed, which cannot wait for us, the subscription holds up to ``RECORD_SUB_HWM`` messages
while this process or its disk is behind, so a stall costs memory, not frames.

It meets the other commands at their defaults (``_argtypes.DEFAULT_ENDPOINT``): ``record``
connects and subscribes like ``run``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from ..stream import (
    RecordingSink,
    ZmqFrameSource,
    default_pattern,
    install_stop_signals,
    parse_endpoint,
)
from ._argtypes import DEFAULT_ENDPOINT, positive_float, positive_int
from ._errors import UsageError, warn_if_no_frames

DRAIN_QUIET_S = 0.25
"""After a stop, keep taking messages that reached us until none came for this long (s)..."""
DRAIN_MAX_S = 2.0
"""...or for at most this long (s)."""
RECORD_SUB_HWM: Final = 100_000
"""Messages a recording subscriber holds in memory while it is behind (over half an hour of a
50-fps feed); past that ZeroMQ drops, and the drops show as sequence gaps."""


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
