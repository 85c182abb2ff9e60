"""``orstream run``: a live pipeline on any source, optionally recording it and writing results."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Any

from ..pipelines import (
    DEFAULT_CONTROL_ENDPOINT,
    DEFAULT_ROBOT_ENDPOINT,
    PIPELINES,
    Engine,
    PipelineSummary,
    RobotLink,
)
from ..stream import display_uri, install_stop_signals
from ._argtypes import DEFAULT_ENDPOINT, non_negative_float, positive_float, positive_int
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


def pixel_point(text: str) -> tuple[float, float]:
    """``X,Y`` in frame pixels (column, row)."""
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y (two numbers, pixels)") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"{text!r} must be finite pixels")
    return x, y


def robot_link(args: argparse.Namespace) -> RobotLink | None:
    """The robot link ``--robot`` and its options ask for (None without ``--robot``)."""
    if args.robot is None:
        robot_only = (args.target, args.robot_gate, args.policy, args.roadmap, args.repress)
        if args.robot_enable or any(v is not None for v in robot_only):
            raise ValueError(
                "--target, --robot-enable, --robot-gate, --policy, --roadmap and --repress "
                "need --robot"
            )
        return None
    return RobotLink(
        args.robot,
        control=None if args.robot_control == "none" else args.robot_control,
        target_px=args.target,
        enable=args.robot_enable,
        gate_settings=args.robot_gate,
        policy=args.policy,
        roadmap=args.roadmap,
        repress_after_ms=args.repress,
    )


def run(args: argparse.Namespace) -> int:
    robot = robot_link(args)
    engine = Engine(
        args.source,
        args.pipeline,
        backend=args.backend,
        results=args.results,
        record=args.record,
        workers=args.workers,
        sinks=[f"igtl+server://{args.igtl}"] if args.igtl else [],
        robot=robot,
        display=None
        if args.display is None
        else display_uri(
            args.display,
            token=args.token,
            feedback_dir=args.feedback_dir,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ),
    )
    for url in engine.display_urls:
        print(f"display: {url}", file=sys.stderr, flush=True)
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
    parser.add_argument(
        "--igtl",
        nargs="?",
        const="18944",
        metavar="[HOST:]PORT",
        help="serve OpenIGTLink (3D Slicer) on PORT (18944 is the usual one; host 127.0.0.1 "
        "unless given; add ?labels=1 to send label maps every frame): image, tip transforms, "
        "guidance status (docs/openigtlink.md)",
    )
    parser.add_argument(
        "--robot",
        nargs="?",
        const=DEFAULT_ROBOT_ENDPOINT,
        metavar="ENDPOINT",
        help="publish guidance behind the safety gate on a ZeroMQ robot feed, bound (default "
        f"{DEFAULT_ROBOT_ENDPOINT}; beyond loopback add ?curve_secret=..&curve_allow=DIR); "
        "docs/robot-feed.md",
    )
    parser.add_argument(
        "--robot-control",
        default=DEFAULT_CONTROL_ENDPOINT,
        metavar="ENDPOINT",
        help="the operator's control socket for enable, keepalive, release, stop, reset "
        f"(default {DEFAULT_CONTROL_ENDPOINT}; none: no socket)",
    )
    parser.add_argument(
        "--robot-enable",
        action="store_true",
        help="a simulated operator pedal (tests, demos): pressed once the tracking first looks "
        "good, then held down; any later HOLD needs an enable on the control socket",
    )
    parser.add_argument(
        "--target",
        type=pixel_point,
        metavar="X,Y",
        help="where guidance steers the tip (frame pixels; default: the simulator's truth "
        "target, if its frames carry one)",
    )
    parser.add_argument(
        "--robot-gate",
        metavar="PATH.toml|PRESET",
        help="safety gate settings: a TOML file or a shipped preset (default; fluoro: 15 fps "
        "fluoroscopy); docs/safety-gate.md",
    )
    parser.add_argument(
        "--policy",
        metavar="shipped|scripted|PATH.onnx",
        help="guidance by a catheter navigation policy (the shipped one, the scripted "
        "controller, or an exported orstream/CatheterNav-v0 policy) along the --roadmap, "
        "instead of straight at --target",
    )
    parser.add_argument(
        "--roadmap",
        metavar="PATH.json",
        help="the vessel roadmap and target the --policy navigates (orstream sim publish "
        "--roadmap-out writes one); docs/robot-feed.md",
    )
    parser.add_argument(
        "--repress",
        type=non_negative_float,
        metavar="MS",
        help="with --robot-enable: the simulated operator presses again after a HOLD once "
        "tracking has looked good for MS milliseconds (default: never)",
    )
    parser.add_argument(
        "--display",
        nargs="?",
        const="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="serve the OR display in the browser (default 127.0.0.1:8080; the address with its "
        "access token is printed on stderr); docs/display.md",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ORSTREAM_TOKEN"),
        help="the display's access token (default: env ORSTREAM_TOKEN, else a new random one)",
    )
    parser.add_argument(
        "--feedback-dir",
        default="feedback",
        metavar="DIR",
        help="where the display stores clinician feedback (docs/feedback-format.md)",
    )
    parser.add_argument("--tls-cert", metavar="PEM", help="serve the display over HTTPS")
    parser.add_argument("--tls-key", metavar="PEM", help="the key of --tls-cert")
    parser.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds")
    parser.add_argument(
        "--frames", type=positive_int, metavar="N", help="stop after N processed frames"
    )
    parser.add_argument("--json", action="store_true", help="summary as one JSON document")
    parser.add_argument("--quiet", action="store_true", help="no live status line")
    parser.set_defaults(func=run)
