"""``orstream run``: the engine on a live or recorded source, optionally recording it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..pipelines._echo_stages import EchoMeasureStage, EchoSegmentStage, default_workers
from ..stream import Pipeline, Source, ZmqFrameSource, install_stop_signals, parse_endpoint
from ..stream._endpoint import ZMQ_SCHEMES
from ._argtypes import positive_int
from ._errors import UsageError


def open_source(uri: str, default_pattern: str = "sub") -> Source:
    """A frame source for a source URI (``zmq+tcp://``, ``zmq+ipc://``, ``file:``)."""
    scheme = uri.split(":", 1)[0]
    if scheme in ZMQ_SCHEMES:
        return ZmqFrameSource(parse_endpoint(uri), pattern=default_pattern)
    if scheme == "file":
        from ..stream import RecordingSource

        return RecordingSource(uri.removeprefix("file:"))
    raise UsageError(
        f"source {uri!r}: scheme {scheme!r} is not supported yet "
        "(use zmq+tcp://HOST:PORT, zmq+ipc://PATH or file:RECORDING)"
    )


def echo_stages(backend: str) -> tuple[EchoSegmentStage, EchoMeasureStage]:
    """The live echo stages: LV segmentation, then measurements."""
    return EchoSegmentStage(backend), EchoMeasureStage()


def format_status(summary: dict[str, Any]) -> str:
    """One compact status line: fps, latency, drops, recorded frames."""
    name, live = next(iter(summary["paths"].items()))
    latency = live["latency_ms"]
    source = summary["source"]
    line = (
        f"{name}: {live['frames']} frames {live['fps']:.1f} fps | latency p50 "
        f"{latency['p50'] or 0:.1f} ms p99 {latency['p99'] or 0:.1f} ms | drops stale "
        f"{live['drops'].get('stale', 0)} malformed {source.get('malformed', 0)} "
        f"gaps {source.get('gaps', 0)}"
    )
    if "record" in summary["paths"]:
        line += f" | recorded {summary['paths']['record']['frames']}"
    measurements = summary.get("measurements")
    if measurements:
        ef, hr = measurements["ef"], measurements["heart_rate_bpm"]
        line += f" | EF {'-' if ef is None else f'{ef * 100:.0f}%'} HR {hr or '-'}"
    return line


def pipeline_workers(args: argparse.Namespace, live: bool) -> int:
    """``--workers``, or its default: the usable cores (at most 4) for the live echo pipeline,
    else 1; UsageError when it cannot apply (``live``: the source is not a recording)."""
    if args.workers is None:
        return default_workers() if args.pipeline == "echo" and live else 1
    if args.workers > 1 and not live:
        raise UsageError("--workers above 1 needs a live source (zmq+tcp:// or zmq+ipc://)")
    return int(args.workers)


def run(args: argparse.Namespace) -> int:
    live = not args.source.startswith("file:")
    workers = pipeline_workers(args, live)
    source = open_source(args.source)
    recorder = None
    if args.record:
        from ..stream import RecordingSink

        recorder = RecordingSink(args.record)
    measure = None
    stages: list[Any] = []
    if args.pipeline == "echo":
        segment_stage, measure = echo_stages(args.backend)
        stages = [segment_stage, measure]
    pipeline = Pipeline(source, stages, recorder=recorder, live=live, workers=workers)
    install_stop_signals(pipeline.stop_event)
    tty = sys.stderr.isatty()

    def with_measurements(summary: dict[str, Any], final: bool = False) -> dict[str, Any]:
        if measure is None:
            return summary
        return {**summary, "measurements": measure.summary(final)}

    def status(summary: dict[str, Any]) -> None:
        summary = with_measurements(summary)
        print(
            ("\r" if tty else "") + format_status(summary),
            end="" if tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    summary = pipeline.run(
        duration_s=args.duration,
        max_frames=args.frames,
        on_status=None if args.quiet else status,
        status_every_s=1.0 if tty else 5.0,
    )
    summary = with_measurements(summary, final=True)
    if tty and not args.quiet:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_status(summary))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="the engine on a live or recorded source")
    parser.add_argument(
        "--source",
        required=True,
        help="zmq+tcp://HOST:PORT (host * binds), zmq+ipc://PATH, or file:RECORDING",
    )
    parser.add_argument(
        "--pipeline",
        choices=("none", "echo"),
        default="none",
        help="echo: LV segmentation and live measurements; none: transport and recording only",
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
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--frames", type=int, metavar="N", help="stop after N processed frames")
    parser.add_argument("--json", action="store_true", help="summary as one JSON document")
    parser.add_argument("--quiet", action="store_true", help="no live status line")
    parser.set_defaults(func=run)
