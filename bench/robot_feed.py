"""``orstream bench robot_feed``: stall-to-HOLD latency on the robot feed, and feed silence to
the simulated robot's halt.

The production path in one process: a live source at 30 frames/s whose frames carry a tracked
tip (a stage puts a fixed, confident one), ``Engine(..., robot=RobotLink(...))`` (guidance,
the safety gate with the shipped settings, the ZeroMQ feed with 20 Hz heartbeats, the control
socket) and a subscriber on the feed. Each stall: the operator resets and enables on the
control socket, frames flow until the gate is ACTIVE and a few more, then the source stops.
Measured per stall, on this machine's clock:

- ``after capture``: the HOLD ``transition`` message received minus the last frame's capture
  time (the gate's limit, ``max_frame_age_ms`` = 100 ms, is the floor);
- ``beyond limit``: the gate's HOLD time minus (last capture + the limit): what the heartbeat
  scheduling adds;
- ``after the missed frame``: received minus when the next frame was due (capture + 1/30 s).

Two variants: ``watchdog wake`` (the feed's heartbeat thread also wakes when the newest passed
frame turns stale: what ``orstream run --robot`` does) and ``fixed 20 Hz tick`` (the gate
ticked by the periodic heartbeat only: what a plain timer loop gives).

Silence to halt: a feed of 20 Hz heartbeats is closed (as a killed process would stop) and a
:class:`~orstream.sim.SimRobot` (150 ms timeout) notices; figure = its halt detection minus its
last message received.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from orstream.pipelines import Engine, LivePipeline, RobotLink, TipResult
from orstream.policies import load_gate_settings
from orstream.sim import ROBOT_TIMEOUT_MS, SimRobot
from orstream.stream import (
    DEFAULT_HEARTBEAT_HZ,
    Frame,
    RobotFeedReceiver,
    RobotFeedSink,
    control_request,
    make_frame,
)

from ._common import format_table, machine_stamp

FPS: Final = 30.0
STALLS: Final = 200
QUICK_STALLS: Final = 20
SILENCES: Final = 20
QUICK_SILENCES: Final = 5
FRAMES_ACTIVE: Final = 3
"""Frames passed in ACTIVE before each stall."""
_TIP: Final = TipResult(True, 100.0, 100.0, 50.0, 50.0, 0.9, "roi")
_WAIT_S: Final = 10.0


class _SwitchedSource:
    """Frames at :data:`FPS` while ``flowing`` is set; nothing (a stall) while it is not."""

    live = True

    def __init__(self) -> None:
        self.flowing = threading.Event()
        self.closed = threading.Event()
        self.seq = 0
        self.last_capture_ns = 0

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        if self.closed.wait(1.0 / FPS) or not self.flowing.is_set():
            return None
        self.seq += 1
        frame = make_frame(np.zeros((8, 8), np.uint8), "bench", self.seq, spacing_mm=(0.5, 0.5))
        self.last_capture_ns = frame.t_capture_ns
        return frame.stamp("recv")

    def stats(self) -> dict[str, Any]:
        return {"received": self.seq}

    def close(self) -> None:
        self.closed.set()


class _FixedTip:
    name = "fixed-tip"

    def __call__(self, frame: Frame) -> Frame:
        frame.results["tip"] = _TIP
        return frame


def _await(
    receiver: RobotFeedReceiver, wanted: Callable[[dict[str, Any]], bool]
) -> tuple[int, dict[str, Any]]:
    """Receive until a message ``wanted`` says yes to: its receive time (ns, epoch) and it."""
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        message = receiver.recv(timeout_s=0.5)
        if message is not None and wanted(message):
            return time.time_ns(), message
    raise TimeoutError("the awaited robot feed message did not come")


def _command_from(seq: int) -> Callable[[dict[str, Any]], bool]:
    """Says yes to a ``command`` message of frame ``seq`` or later."""
    return lambda m: m["kind"] == "command" and m["frame_seq"] >= seq


def _stalls(count: int, watchdog_wake: bool) -> tuple[dict[str, list[float]], int]:
    """``count`` stalls: the figures (ms) and how many cycles the gate held while frames still
    flowed (a late frame: not a stall, not counted, tried again)."""
    source = _SwitchedSource()
    link = RobotLink("zmq+tcp://127.0.0.1:0", control="zmq+tcp://127.0.0.1:0", enable=True,
                     target_px=(100.0, 300.0), watchdog_wake=watchdog_wake)  # fmt: skip
    if link.control is None:
        raise RuntimeError("the robot link has no control socket")
    control = f"zmq+{link.control.last_endpoint}"
    limit_ns = round(link.gate.settings.max_frame_age_ms * 1e6)
    receiver = RobotFeedReceiver(f"zmq+{link.feed.last_endpoint}")
    engine = Engine(source, LivePipeline("bench", [_FixedTip()]), robot=link)
    runner = threading.Thread(target=engine.run, daemon=True)
    figures: dict[str, list[float]] = {"after_capture": [], "beyond_limit": [], "after_missed": []}
    held_while_flowing = 0
    try:
        runner.start()
        _await(receiver, lambda m: m["kind"] == "heartbeat")
        while len(figures["after_capture"]) < count:
            control_request(control, {"op": "reset"})  # clears the fault count: no STOP
            control_request(control, {"op": "enable"})  # the pedal's keep-alives hold it
            source.flowing.set()
            _await(receiver, lambda m: m["kind"] == "transition" and m["state"] == "ACTIVE")
            _, last = _await(receiver, _command_from(source.seq + FRAMES_ACTIVE))
            source.flowing.clear()
            if last["state"] != "ACTIVE":
                held_while_flowing += 1
                continue
            received, hold = _await(receiver, lambda m: m["kind"] == "transition")
            if hold["state"] != "HOLD" or hold["reason"]["code"] != "frame_stale":
                raise RuntimeError(f"expected a frame_stale HOLD, got {hold}")
            capture = int(hold["frame_t_capture_ns"])
            figures["after_capture"].append((received - capture) / 1e6)
            figures["beyond_limit"].append((hold["gate_t_ns"] - capture - limit_ns) / 1e6)
            figures["after_missed"].append((received - capture - round(1e9 / FPS)) / 1e6)
    finally:
        engine.stop_event.set()
        runner.join(timeout=_WAIT_S)
        receiver.close()
        link.close()
    return figures, held_while_flowing


def _silences(count: int) -> list[float]:
    delays = []
    for _ in range(count):
        feed = RobotFeedSink("zmq+tcp://127.0.0.1:0", lambda _now: {"state": "HOLD"})
        robot = SimRobot(f"zmq+{feed.last_endpoint}")
        try:
            feed.open()
            robot.start()
            deadline = time.monotonic() + _WAIT_S
            while robot.halted and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)
            feed.close()
            while not robot.halts and time.monotonic() < deadline:
                time.sleep(0.005)
            if not robot.halts:
                raise TimeoutError("the simulated robot did not halt")
            event = robot.halts[0]  # t_ns = the last message + the timeout
            delays.append((event.detected_ns - event.t_ns + robot.timeout_ns) / 1e6)
        finally:
            robot.close()
            feed.close()
    return delays


def _summary(values: list[float]) -> dict[str, float | int]:
    array = np.asarray(values, np.float64)
    return {
        "n": int(array.size),
        "p50_ms": round(float(np.percentile(array, 50)), 2),
        "p99_ms": round(float(np.percentile(array, 99)), 2),
        "max_ms": round(float(array.max()), 2),
    }


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """:data:`STALLS` stalls per variant (:data:`QUICK_STALLS` with ``quick``) and
    :data:`SILENCES` feed silences; ``duration_s`` is not used."""
    stalls = QUICK_STALLS if quick else STALLS
    variants: dict[str, Any] = {}
    for name, wake in (("watchdog wake", True), ("fixed 20 Hz tick", False)):
        figures, held = _stalls(stalls, wake)
        variants[name] = {key: _summary(values) for key, values in figures.items()}
        variants[name]["held_while_flowing"] = held
        if progress is not None:
            progress(f"{name}: {variants[name]['after_capture']}")
    silences = _silences(QUICK_SILENCES if quick else SILENCES)
    return {
        "benchmark": "robot_feed",
        "machine": machine_stamp(),
        "settings": {
            "fps": FPS,
            "stalls": stalls,
            "frames_active_before_stall": FRAMES_ACTIVE,
            "heartbeat_hz": DEFAULT_HEARTBEAT_HZ,
            "max_frame_age_ms": load_gate_settings().max_frame_age_ms,
            "robot_timeout_ms": ROBOT_TIMEOUT_MS,
        },
        "stall_to_hold": variants,
        "silence_to_halt": _summary(silences),
    }


def render(report: dict[str, Any]) -> str:
    """One row per variant and figure (ms), then the robot's halt."""
    rows = []
    for name, figures in report["stall_to_hold"].items():
        for key, summary in figures.items():
            if not isinstance(summary, dict):
                continue
            rows.append([name, key.replace("_", " "), summary["n"], summary["p50_ms"],
                         summary["p99_ms"], summary["max_ms"]])  # fmt: skip
    halt = report["silence_to_halt"]
    rows.append(["feed silent", "robot halt after last message", halt["n"], halt["p50_ms"],
                 halt["p99_ms"], halt["max_ms"]])  # fmt: skip
    settings = report["settings"]
    return (
        f"robot feed at {settings['fps']:g} fps, {settings['heartbeat_hz']:g} Hz heartbeats, "
        f"gate limit {settings['max_frame_age_ms']:g} ms, robot timeout "
        f"{settings['robot_timeout_ms']:g} ms\n"
        + format_table(["variant", "ms", "n", "p50", "p99", "max"], rows)
        + "\nheld while frames flowed (late frames, not stalls, tried again): "
        + ", ".join(f"{k} {v['held_while_flowing']}" for k, v in report["stall_to_hold"].items())
    )
