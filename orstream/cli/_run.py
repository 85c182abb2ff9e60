"""``orstream run``: a live pipeline on any source, optionally recording it and writing results."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from ..pipelines import PIPELINES, Engine, PipelineSummary
from ..stream import install_stop_signals
from ._argtypes import DEFAULT_ENDPOINT, positive_float, positive_int
from ._errors import warn_if_no_frames


def format_status(summary: PipelineSummary) -> str:
    """One compact status line: fps, latency, drops, recorded frames, measurements."""
    name, live = next(iter(summary.paths.items()))
    latency = live["latency_ms"]
    source = summary.source
    line = (
        f"{name}: {live['frames']} frames {live['fps']:.1f} fps | latency p50 "
        f"{latency['p50'] or 0:.1f} ms p99 {latency['p99'] or 0:.1f} ms | drops stale "
        f"{live['drops'].get('stale', 0)} malformed {source.get('malformed', 0)} "
        f"gaps {source.get('gaps', 0)}"
    )
    if "record" in summary.paths:
        line += f" | recorded {summary.paths['record']['frames']}"
    measured = summary.measurements or {}
    if "ef" in measured:
        ef, hr = measured["ef"], measured["heart_rate_bpm"]
        line += f" | EF {'-' if ef is None else f'{ef * 100:.0f}%'} HR {hr or '-'}"
    if "tip_found" in measured:
        line += f" | tip found {measured['tip_found']}/{measured['frames']}"
    return line


def run(args: argparse.Namespace) -> int:
    engine = Engine(
        args.source,
        args.pipeline,
        backend=args.backend,
        results=args.results,
        record=args.record,
        workers=args.workers,
    )
    install_stop_signals(engine.stop_event)
    logging.getLogger("orstream.run").info(
        "pipeline %s on %s: models loaded, taking frames", args.pipeline, args.source
    )
    tty = sys.stderr.isatty()

    def status(summary: PipelineSummary) -> None:
        print(
            ("\r" if tty else "") + format_status(summary),
            end="" if tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    source = engine.source
    hint = warn_if_no_frames(
        args.source,
        lambda: int(source.stats().get("received", 0)),
        str(getattr(source, "pattern", "sub")),
    )
    try:
        summary = engine.run(
            duration_s=args.duration,
            max_frames=args.frames,
            on_status=None if args.quiet else status,
            status_every_s=1.0 if tty else 5.0,
        )
    finally:
        hint.cancel()
    if tty and not args.quiet:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print(format_status(summary))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="a live pipeline on a live or recorded source")
    parser.add_argument(
        "--source",
        default=DEFAULT_ENDPOINT,
        metavar="URI",
        help="zmq+tcp://HOST:PORT (host * binds), zmq+ipc://PATH, file:RECORDING, "
        "dicom:PATH, png:DIR?fps=F&spacing_mm=S, sim:MODALITY?seed=N&fps=F "
        f"(default {DEFAULT_ENDPOINT}, where sim publish and replay send)",
    )
    parser.add_argument(
        "--pipeline",
        choices=(*PIPELINES, "none"),
        default="none",
        help="echo: LV and live EF; fluoro: catheter tip and mask; us: needle, nerves, "
        "vessels; none: transport and recording only",
    )
    parser.add_argument(
        "--backend", default="auto", choices=("auto", "onnxruntime", "torch", "tensorrt")
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="frames of different streams in the stages at once (live sources; default: the "
        "usable cores, at most 4, with --pipeline echo, else 1)",
    )
    parser.add_argument("--record", metavar="PATH", help="also record every frame, losslessly")
    parser.add_argument("--results", metavar="PATH.jsonl", help="per-frame results as JSON Lines")
    parser.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds")
    parser.add_argument(
        "--frames", type=positive_int, metavar="N", help="stop after N processed frames"
    )
    parser.add_argument("--json", action="store_true", help="summary as one JSON document")
    parser.add_argument("--quiet", action="store_true", help="no live status line")
    parser.set_defaults(func=run)
