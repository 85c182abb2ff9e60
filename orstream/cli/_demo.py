"""``orstream demo``: the main job on the built-in simulator, as a deployment would run it.

Three processes on the machine's loopback: the simulated device (``orstream sim publish``),
the engine (``orstream run``, live path) and the lossless recorder (``orstream record``), each
subscribed to the device's feed. The engine prints its status line; at the end (``--duration``
or Ctrl-C) every process is stopped cleanly and one summary is printed.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..sim._registry import MODALITIES

_STOP_TIMEOUT_S = 30.0


def _free_port_pair() -> int:
    """A loopback port P with P + 1 free as well (frames on P, truth on P + 1)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise OSError("no free pair of loopback ports")


def _spawn(args: list[str], show_stderr: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orstream", *args],
        stdout=subprocess.PIPE,
        stderr=None if show_stderr else subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the demo only; it stops the others in order
    )


def _finish(process: subprocess.Popen[str], name: str, interrupt: bool) -> dict[str, Any]:
    if interrupt and process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise RuntimeError(f"the {name} did not stop within {_STOP_TIMEOUT_S:.0f} s") from None
    if process.returncode not in (0, 130):
        raise RuntimeError(f"the {name} failed (exit {process.returncode})")
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError:
        raise RuntimeError(f"the {name} printed no summary") from None
    return result


def run(args: argparse.Namespace) -> int:
    summary, interrupted = run_demo(
        args.modality,
        duration_s=args.duration,
        fps=args.fps,
        seed=args.seed,
        show=not args.headless,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 130 if interrupted else 0


def run_demo(
    modality: str = "echo",
    *,
    duration_s: float | None = None,
    fps: float | None = None,
    seed: int = 1,
    show: bool = False,
    workdir: Path | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run the device, the engine and the recorder until the device has sent ``duration_s``
    seconds of frames (or Ctrl-C); (the summary, whether Ctrl-C stopped it).

    ``show``: the engine's status line on stderr; ``workdir``: where the recording goes
    (default: a new temporary folder, kept for the user).
    """
    if duration_s is not None and duration_s <= 0:
        raise ValueError("--duration must be positive")
    port = _free_port_pair()
    feed = f"zmq+tcp://127.0.0.1:{port}"
    workdir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="orstream-demo-"))
    recording = workdir / "demo.orsrec"
    pipeline = ["--pipeline", "echo"] if modality == "echo" else []
    engine = _spawn(
        ["run", "--source", feed, "--json", *pipeline] + ([] if show else ["--quiet"]), show
    )
    recorder = _spawn(
        ["record", "--source", f"{feed}?pattern=sub", "--out", str(recording), "--json"], False
    )
    truth = f"zmq+tcp://127.0.0.1:{port + 1}?bind=1"
    device_args = [
        "sim", "publish", "--modality", modality, "--seed", str(seed),
        "--endpoint", f"{feed}?bind=1", "--truth-endpoint", truth, "--warmup", "1.0", "--json",
    ]  # fmt: skip
    if fps is not None:
        device_args += ["--fps", str(fps)]
    if duration_s is not None:
        rate = fps or _default_fps(modality)
        device_args += ["--frames", str(max(1, round(duration_s * rate)))]
    device = _spawn(device_args, False)
    interrupted = False
    try:
        try:
            while device.poll() is None:
                time.sleep(0.1)
        except KeyboardInterrupt:
            interrupted = True
        device_summary = _finish(device, "device", interrupt=interrupted)
        time.sleep(0.5)  # let the last frames through
        engine_summary = _finish(engine, "engine", interrupt=True)
        record_summary = _finish(recorder, "recorder", interrupt=True)
    finally:  # one that failed leaves none of the others running
        for process in (device, engine, recorder):
            if process.poll() is None:
                process.kill()
                process.communicate()
    return _summary(modality, device_summary, engine_summary, record_summary), interrupted


def _default_fps(modality: str) -> float:
    from ..sim._registry import make_simulator

    return float(make_simulator(modality, seed=0).fps)


def _summary(
    modality: str, device: dict[str, Any], engine: dict[str, Any], record: dict[str, Any]
) -> dict[str, Any]:
    live = engine["paths"]["live"]
    source = engine["source"]
    return {
        "modality": modality,
        "frames": {
            "sent": device["frames"],
            "received": source["received"],
            "processed": live["frames"],
            "recorded": record["frames"],
        },
        "fps": {"device": device["fps"], "engine": live["fps"], "target": device["fps_target"]},
        "latency_ms": live["latency_ms"],
        "stages_ms": live["stages_ms"],
        "drops": {
            "live": sum(live["drops"].values()),
            "live_by_kind": live["drops"],
            "gaps": source["gaps"],
            "malformed": source["malformed"],
            "record_gaps": record["gaps"],
            "device_late_frames": device["late_frames"],
        },
        "recording": record["path"],
        **_measurements(engine.get("measurements")),
        "truth": _truth(device["truth"]),
        "simulator": device["truth"],
    }


def _measurements(measured: dict[str, Any] | None) -> dict[str, Any]:
    """The engine's live measurements, at the top level of the summary (echo)."""
    if measured is None:
        return {}
    return {
        "beats": measured["beats"],
        "ef": measured["ef"],
        "heart_rate_bpm": measured["heart_rate_bpm"],
        "measurement_method": measured["method"],
    }


def _truth(described: dict[str, Any]) -> dict[str, Any]:
    """The simulator's headline truth under the names the measurements use."""
    names = {"ef": "ef", "hr_bpm": "heart_rate_bpm", "edv_ml": "edv_ml", "esv_ml": "esv_ml"}
    return {out: described[key] for key, out in names.items() if key in described}


def _print(s: dict[str, Any]) -> None:
    f, lat = s["frames"], s["latency_ms"]
    print(
        f"{s['modality']}: sent {f['sent']}, received {f['received']}, processed "
        f"{f['processed']}, recorded {f['recorded']} frames; engine {s['fps']['engine']} fps "
        f"(target {s['fps']['target']}); capture-to-result latency p50 {lat['p50']} ms, "
        f"p99 {lat['p99']} ms; live drops {s['drops']['live']}, gaps {s['drops']['gaps']}"
    )
    if "ef" in s:
        ef, hr = s["ef"], s["heart_rate_bpm"]
        print(
            f"measured: EF {'-' if ef is None else f'{ef:.3f}'}, heart rate "
            f"{'-' if hr is None else f'{hr:.1f}'} bpm over {len(s['beats'])} beats"
        )
    if s["truth"]:
        print("simulator truth: " + ", ".join(f"{k} {v:.3g}" for k, v in s["truth"].items()))
    print(f"recording: {s['recording']}")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="the main job on the built-in simulator (device, engine, recorder)"
    )
    parser.add_argument("--modality", choices=MODALITIES, default="echo")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--headless", action="store_true", help="no live status line")
    parser.add_argument("--json", action="store_true", help="summary as one JSON document")
    parser.add_argument("--fps", type=float, help="device frame rate (default: the modality's)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.set_defaults(func=run)
