"""The demo: the built-in simulator, the engine and the recorder, as a deployment runs them.

Three processes on the machine's loopback: the simulated device (``orstream sim publish``),
the engine (``orstream run`` with the modality's pipeline, live path) and the lossless recorder
(``orstream record``), each subscribed to the device's feed. :func:`run_demo` stops them
cleanly once the device has sent its frames (or on Ctrl-C) and sums the run up.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..sim import RobotFluoroSimulator, make_simulator, write_roadmap
from ._ports import free_loopback_port, loopback_port_free

_STOP_TIMEOUT_S = 30.0
REPRESS_MS = 5000.0
"""The demo's simulated operator presses again after a HOLD once tracking has looked good this
long: longer than half the gate's 10 s fault window, so one tracking dip that comes back at
the same place does not pile up to the three faults that latch STOP."""
_START_TIMEOUT_S = 120.0


@dataclass
class _Child:
    """A spawned ``python -m orstream`` process whose stdout is collected and whose stderr is
    watched (and passed on when shown) by two threads, so no pipe ever fills up."""

    name: str
    process: subprocess.Popen[str]
    ready: threading.Event
    out: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None


def _spawn(name: str, args: list[str], show_stderr: bool, ready_word: str | None = None) -> _Child:
    """Start ``python -m orstream ARGS``; its ``ready`` is set once a line of its stderr holds
    ``ready_word`` (at once without one)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orstream", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the demo only; it stops the others in order
    )
    child = _Child(name, process, threading.Event())
    if ready_word is None:
        child.ready.set()

    def watch(stream: IO[str]) -> None:
        for line in stream:
            if ready_word is not None and ready_word in line:
                child.ready.set()
            if show_stderr or line.startswith("display: "):  # the display's link, always
                sys.stderr.write(line)
                sys.stderr.flush()

    def collect(stream: IO[str]) -> None:
        child.out.append(stream.read())

    assert process.stdout is not None and process.stderr is not None  # both PIPE
    threading.Thread(target=watch, args=(process.stderr,), daemon=True).start()
    child.reader = threading.Thread(target=collect, args=(process.stdout,), daemon=True)
    child.reader.start()
    return child


def _await_ready(child: _Child) -> None:
    """Wait until ``child`` takes frames; RuntimeError if it ends first or takes too long."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not child.ready.wait(0.1):
        if child.process.poll() is not None:
            code = child.process.returncode
            raise RuntimeError(f"the {child.name} ended before it took frames (exit {code})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {child.name} did not start within {_START_TIMEOUT_S:.0f} s")


def _finish(child: _Child, interrupt: bool) -> dict[str, Any]:
    """Stop ``child`` (SIGINT when ``interrupt``) and parse its JSON summary."""
    process = child.process
    if interrupt and process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(
            f"the {child.name} did not stop within {_STOP_TIMEOUT_S:.0f} s"
        ) from None
    if child.reader is not None:
        child.reader.join(timeout=_STOP_TIMEOUT_S)
    if process.returncode not in (0, 130):
        raise RuntimeError(f"the {child.name} failed (exit {process.returncode})")
    try:
        result: dict[str, Any] = json.loads("".join(child.out))
    except ValueError:
        raise RuntimeError(f"the {child.name} printed no summary") from None
    return result


def run_demo(
    modality: str = "echo",
    *,
    duration_s: float | None = None,
    fps: float | None = None,
    seed: int = 1,
    show: bool = False,
    workdir: Path | None = None,
    display: str | None = None,
    robot: bool | None = None,
) -> tuple[dict[str, Any], bool]:
    """Run the device, the engine and the recorder until the device has sent ``duration_s``
    seconds of frames (or Ctrl-C); (the summary, whether Ctrl-C stopped it).

    ``show``: the engine's status line on stderr; ``workdir``: where the recording goes
    (default: a new temporary folder, kept for the user); ``display``: the engine serves the
    OR display at ``HOST:PORT`` (``"auto"``: 127.0.0.1:8080, or a free port when 8080 is
    taken) and its link ``display: http://...?token=...`` is passed on to stderr; ``robot``
    (default: for fluoro): the closed loop, a simulated robot on the engine's robot feed moves
    the device's catheter as the shipped policy steers it through the safety gate
    (``closed_loop`` in the summary; docs/robot-feed.md, "Closed loop").
    """
    if duration_s is not None and duration_s <= 0:
        raise ValueError("--duration must be positive")
    robot = modality == "fluoro" if robot is None else robot
    if robot and modality != "fluoro":
        raise ValueError("the closed loop (--robot) drives a catheter: it needs --modality fluoro")
    port = free_loopback_port(2)
    feed = f"zmq+tcp://127.0.0.1:{port}"
    workdir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="orstream-demo-"))
    recording = workdir / "demo.orsrec"
    pipeline = ["--pipeline", modality]
    if display is not None:
        pipeline += ["--display", display_address(display)]
    device_robot: list[str] = []
    if robot:
        feed_robot = f"zmq+tcp://127.0.0.1:{free_loopback_port()}"
        pipeline += _closed_loop_engine_args(feed_robot, seed, workdir)
        device_robot = ["--robot", feed_robot]
    engine = _spawn(
        "engine",
        ["run", "--source", feed, "--json", *pipeline] + ([] if show else ["--quiet"]),
        show,
        ready_word="taking frames",
    )
    recorder = _spawn(
        "recorder",
        ["record", "--source", f"{feed}", "--out", str(recording), "--json"],
        False,
        ready_word="orstream record:",
    )
    truth = f"zmq+tcp://127.0.0.1:{port + 1}?bind=1"
    device_args = [
        "sim", "publish", "--modality", modality, "--seed", str(seed),
        "--endpoint", f"{feed}?bind=1", "--truth-endpoint", truth, "--warmup", "1.0", "--json",
    ]  # fmt: skip
    device_args += device_robot
    if fps is not None:
        device_args += ["--fps", str(fps)]
    if duration_s is not None:
        rate = fps or _default_fps(modality)
        device_args += ["--frames", str(max(1, round(duration_s * rate)))]
    children = [engine, recorder]
    interrupted = False
    try:
        try:  # the device starts once both receivers take frames: none of its frames is lost
            _await_ready(engine)
            _await_ready(recorder)
            device = _spawn("device", device_args, False)
            children.append(device)
            device.process.wait()
        except KeyboardInterrupt:
            interrupted = True
        if len(children) < 3:
            raise KeyboardInterrupt
        device_summary = _finish(device, interrupted)
        time.sleep(0.5)  # let the last frames through
        engine_summary = _finish(engine, interrupt=True)
        record_summary = _finish(recorder, interrupt=True)
    finally:  # one that failed leaves none of the others running
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
    return _summary(modality, device_summary, engine_summary, record_summary), interrupted


def _closed_loop_engine_args(feed: str, seed: int, workdir: Path) -> list[str]:
    """The engine's side of the closed loop: the robot feed on ``feed`` behind the fluoroscopy
    gate preset, the shipped policy on the device's roadmap (written to ``workdir``), and a
    simulated operator who keeps the pedal down and presses again after a HOLD once tracking
    has looked good for ``REPRESS_MS``."""
    roadmap = workdir / "roadmap.json"
    write_roadmap(RobotFluoroSimulator(seed).roadmap(), roadmap)
    return [
        "--robot", feed, "--robot-control", "none", "--robot-enable", "--robot-gate", "fluoro",
        "--policy", "shipped", "--roadmap", str(roadmap), "--repress", str(REPRESS_MS),
    ]  # fmt: skip


def display_address(display: str) -> str:
    """``HOST:PORT`` for the demo's display: ``"auto"`` is 127.0.0.1:8080 when that port is
    free, else 127.0.0.1 on a free port; anything else is passed as it is."""
    if display != "auto":
        return display
    return f"127.0.0.1:{8080 if loopback_port_free(8080) else free_loopback_port()}"


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
        **_closed_loop(device["truth"].get("closed_loop"), engine.get("robot")),
        "simulator": {
            k: v for k, v in device["truth"].items() if k not in ("vessel_graph", "closed_loop")
        },
    }


def _closed_loop(device: dict[str, Any] | None, gate: dict[str, Any] | None) -> dict[str, Any]:
    """The closed loop's outcome: the device's catheter (reached, errors, robot halts) and the
    engine's gate (state, transitions, operator presses)."""
    if device is None:
        return {}
    return {"closed_loop": {**device, "gate": gate}}


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
