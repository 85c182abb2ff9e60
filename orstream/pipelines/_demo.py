"""The demo: the built-in simulator, the engine and the recorder, as a deployment runs them.

Three processes on the machine's loopback: the simulated device (``orstream sim publish``),
the engine (``orstream run`` with the modality's pipeline, live path) and the lossless recorder
(``orstream record``), each subscribed to the device's feed. :func:`run_demo` stops them
cleanly once the device has sent its frames (or on Ctrl-C) and sums the run up.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..sim import make_simulator

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


def _finish(
    process: subprocess.Popen[str], name: str, interrupt: bool, out: str | None = None
) -> dict[str, Any]:
    """Stop ``process`` (SIGINT when ``interrupt``) and parse its JSON summary (``out``:
    its whole output, when it was already read)."""
    if interrupt and process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        if out is None:
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
    pipeline = ["--pipeline", modality]
    engine = _spawn(
        ["run", "--source", feed, "--json", *pipeline] + ([] if show else ["--quiet"]), show
    )
    recorder = _spawn(["record", "--source", f"{feed}", "--out", str(recording), "--json"], False)
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
        device_out: str | None = None
        try:  # reading while waiting: a summary larger than the pipe must not block the device
            device_out, _ = device.communicate()
        except KeyboardInterrupt:
            interrupted = True
        device_summary = _finish(device, "device", interrupted, device_out)
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
        "simulator": {k: v for k, v in device["truth"].items() if k != "vessel_graph"},
    }


def _measurements(measured: dict[str, Any] | None) -> dict[str, Any]:
    """The engine's live measurements: echo's at the top level of the summary, the others'
    (tips found, confidence) under ``measurements``."""
    if measured is None:
        return {}
    if "ef" not in measured:
        return {"measurements": measured}
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
