"""``orstream sim publish|export``: a simulated device on the wire, or frames and truth on disk.

``publish`` binds :data:`~orstream.cli._argtypes.DEFAULT_SEND_ENDPOINT` by default, where
``orstream run`` and ``orstream record`` connect by default.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..sim import (
    MODALITIES,
    ROBOT_TIMEOUT_MS,
    RobotFluoroSimulator,
    SimRobot,
    Simulator,
    make_simulator,
    sim_frame_to_frame,
    write_roadmap,
)
from ..stream import (
    ZmqFrameSender,
    ZmqJsonSender,
    install_stop_signals,
    parse_endpoint,
    write_us_cine,
)
from ._argtypes import DEFAULT_SEND_ENDPOINT, non_negative_float, positive_float, positive_int


def simulator_from_args(args: argparse.Namespace) -> Simulator:
    """Build the simulator from the common flags; only the flags a user gave are passed."""
    options: dict[str, Any] = {"seed": args.seed}
    for flag, option in (("fps", "fps"), ("ef", "ef"), ("hr", "hr_bpm")):
        value = getattr(args, flag)
        if value is not None:
            options[option] = value
    if args.ef is not None and not 0.05 <= args.ef <= 0.95:
        raise ValueError(f"--ef {args.ef} is not a fraction in 0.05-0.95 (0.55 means 55 %)")
    if args.hr is not None and not 20 <= args.hr <= 250:
        raise ValueError(f"--hr {args.hr} bpm is outside 20-250")
    if args.fps is not None and args.fps > 1000:
        raise ValueError(f"--fps {args.fps:g} is above 1000 frames per second")
    return make_simulator(args.modality, **options)


def truth_endpoint(frame_endpoint: str) -> str:
    """The default truth channel: the frame endpoint's port plus one (tcp), or PATH.truth."""
    endpoint = parse_endpoint(frame_endpoint)
    base, _, query = frame_endpoint.partition("?")
    if endpoint.address.startswith("ipc://"):
        return f"{base}.truth" + (f"?{query}" if query else "")
    host_port, _, port = base.rpartition(":")
    if port == "0":
        raise ValueError("with port 0 give --truth-endpoint explicitly")
    return f"{host_port}:{int(port) + 1}" + (f"?{query}" if query else "")


def robot_simulator(args: argparse.Namespace) -> RobotFluoroSimulator:
    """``--robot FEED``: fluoroscopy whose catheter a simulated robot on FEED moves; writes the
    roadmap to ``--roadmap-out`` when given."""
    if args.modality != "fluoro":
        raise ValueError("--robot drives a catheter: it needs --modality fluoro")
    if args.ef is not None or args.hr is not None:
        raise ValueError("--ef and --hr are echo settings")
    robot = SimRobot(args.robot, timeout_ms=args.robot_timeout)
    try:
        sim = RobotFluoroSimulator(args.seed, fps=args.fps or 15.0, robot=robot)
        if args.roadmap_out is not None:
            write_roadmap(sim.roadmap(), args.roadmap_out)
    except BaseException:
        robot.close()
        raise
    robot.start()
    return sim


def publish(args: argparse.Namespace) -> int:
    if args.robot is None and args.roadmap_out is not None:
        raise ValueError("--roadmap-out needs --robot")
    sim = simulator_from_args(args) if args.robot is None else robot_simulator(args)
    # a robot-driven frame is rendered once due (it moves until then) and stamped when
    # rendered, like a detector's frame when read out: its pose is the render time older
    render_when_due = bool(getattr(sim, "render_when_due", False))
    stream_id = args.stream_id or f"sim-{sim.modality}"
    stop = threading.Event()
    install_stop_signals(stop)
    period_ns = round(1e9 / sim.fps)
    late = 0
    t0 = time.time_ns() + round(args.warmup * 1e9)
    index = 0
    with contextlib.ExitStack() as closing:
        if isinstance(sim, RobotFluoroSimulator):
            closing.callback(sim.robot.close)
        sender = ZmqFrameSender(args.endpoint, pattern="pub")
        closing.callback(sender.close)
        truth = ZmqJsonSender(args.truth_endpoint or truth_endpoint(args.endpoint))
        closing.callback(truth.close)
        while not stop.is_set() and (args.frames is None or index < args.frames):
            rendered = None if render_when_due else sim.render(index)
            due = t0 + index * period_ns
            wait_s = (due - time.time_ns()) / 1e9
            if wait_s > 0:
                stop.wait(wait_s)
            else:
                late += 1
            if rendered is None:
                rendered = sim.render(index)
            t_capture = time.time_ns()  # the frame leaves the detector (read out)
            sender.send(sim_frame_to_frame(sim, rendered, stream_id, t_capture))
            truth.send({"stream": stream_id, "seq": index, "truth": rendered.truth})
            index += 1
    elapsed_s = max((time.time_ns() - t0) / 1e9, 1e-9)
    summary = {
        "frames": index,
        "fps_target": sim.fps,
        "fps": round(index / elapsed_s, 3),
        "late_frames": late,
        "truth": sim.describe(),
    }
    print(
        json.dumps(summary, indent=2)
        if args.json
        else f"published {index} {sim.modality} frames at {summary['fps']} fps "
        f"(target {sim.fps}, {late} late)"
    )
    return 0


def export(args: argparse.Namespace) -> int:
    sim = simulator_from_args(args)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise ValueError(f"{out} is not empty (use --overwrite)")
    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    frames_truth = []
    images = []
    for index in range(args.frames):
        rendered = sim.render(index)
        name = f"{index:04d}.png"
        _imwrite(out / "frames" / name, rendered.image)
        _imwrite(out / "masks" / name, rendered.labels)
        frames_truth.append({"index": index, "t_s": rendered.t_s, **rendered.truth})
        if sim.modality == "echo":
            images.append(rendered.image)
    document = {
        "modality": sim.modality,
        "fps": sim.fps,
        "spacing_mm": list(sim.spacing_mm),
        "geometry": sim.geometry,
        "label_names": list(sim.label_names),
        **sim.describe(),
        "frames": frames_truth,
    }
    (out / "truth.json").write_text(json.dumps(document, indent=1))
    if images:
        write_us_cine(
            out / "clip.dcm",
            np.stack(images),
            sim.spacing_mm,
            sim.fps,
            uid_seed=f"orstream-sim-{args.seed}",
        )
    if args.json:
        print(json.dumps({"out": str(out), "frames": args.frames, **sim.describe()}, indent=2))
    else:
        print(f"wrote {args.frames} {sim.modality} frames, masks and truth.json to {out}")
    return 0


def _imwrite(path: Path, image: np.ndarray[Any, Any]) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality", choices=MODALITIES, default="echo")
    parser.add_argument("--seed", type=int, default=0, help="anatomy, motion and noise seed")
    parser.add_argument(
        "--fps", type=positive_float, help="frame rate, at most 1000 (default: the modality's)"
    )
    parser.add_argument("--ef", type=float, help="echo: ejection fraction, 0-1")
    parser.add_argument("--hr", type=float, help="echo: heart rate, beats per minute")
    parser.add_argument("--json", action="store_true", help="summary as one JSON document")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sim", help="simulated devices: publish on the wire, export")
    commands = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)
    pub = commands.add_parser("publish", help="stream a simulated device over wire v1")
    _add_common(pub)
    pub.add_argument(
        "--endpoint",
        default=DEFAULT_SEND_ENDPOINT,
        metavar="ENDPOINT",
        help="frames (PUB); host * binds all interfaces (default "
        f"{DEFAULT_SEND_ENDPOINT}, where run and record connect by default)",
    )
    pub.add_argument(
        "--truth-endpoint", metavar="ENDPOINT", help="ground truth as JSON (default: port + 1)"
    )
    pub.add_argument(
        "--frames", type=positive_int, metavar="N", help="stop after N frames (default: Ctrl-C)"
    )
    pub.add_argument("--stream-id", help="wire stream id (default sim-MODALITY)")
    pub.add_argument(
        "--warmup",
        type=non_negative_float,
        default=0.5,
        metavar="S",
        help="seconds to wait for subscribers before the first frame (default 0.5)",
    )
    pub.add_argument(
        "--robot",
        metavar="ENDPOINT",
        help="fluoro: a simulated robot on this robot feed (orstream run --robot) moves the "
        "catheter; docs/robot-feed.md, Closed loop",
    )
    pub.add_argument(
        "--robot-timeout",
        type=positive_float,
        default=ROBOT_TIMEOUT_MS,
        metavar="MS",
        help=f"the robot halts after MS without a feed message (default {ROBOT_TIMEOUT_MS:g})",
    )
    pub.add_argument(
        "--roadmap-out",
        metavar="PATH.json",
        help="with --robot: write the vessel roadmap and target for orstream run --roadmap",
    )
    pub.set_defaults(func=publish)
    exp = commands.add_parser("export", help="frames, masks and truth.json on disk")
    _add_common(exp)
    exp.add_argument("--frames", type=positive_int, required=True, metavar="N")
    exp.add_argument("--out", required=True, metavar="DIR", help="output folder")
    exp.add_argument("--overwrite", action="store_true")
    exp.set_defaults(func=export)
