"""The catalogue of benchmarks: each is a module ``orstream.bench.<name>`` with
``run(duration_s=, quick=, progress=) -> dict`` and ``render(report) -> str``; adding one is
one line here. ``orstream bench`` makes one subcommand per entry."""

from __future__ import annotations

from typing import Final

BENCHMARKS: Final[dict[str, str]] = {
    "transport": "our ZeroMQ live path against imagezmq (PUB/SUB): fps, latency, slow receiver",
    "inference": "every model on every backend present against torch eager, batch 1",
    "sim": "simulator speed per modality: frames per second on one core, against the goals",
    "echo_ef": "echo-lv + measurements on fresh simulated clips (training-domain and "
    "physics-based renderers): LV Dice, EF and heart rate errors",
    "tracking": "fluoro-catheter tip tracking on 1024 px frames: ROI tracking against the whole"
    " frame every frame and against torch eager",
    "e2e": "echo at 50 fps, device -> engine -> result (the demo's processes) against imagezmq"
    " + the same stages in a plain loop: latency p50/p99, drops, fps",
    "pipeline": "the echo, fluoro and us live pipelines on the in-process simulator in real "
    "time against the same stages in a plain loop: drops, latency p50/p99, against the goals",
    "streams": "how many 50-fps echo streams one engine holds with zero drops",
    "overhead": "per-frame cost of our Pipeline with identity stages against Holoscan's",
    "igtl": "OpenIGTLink transform latency, frame capture -> TRANSFORM at pyigtl's client: the "
    "fluoro pipeline, our server alone, and pyigtl's own server",
    "robot_feed": "stall-to-HOLD latency on the robot feed (30 fps source, 20 Hz heartbeats, the "
    "gate's watchdog) against a fixed-rate tick, and feed silence to the simulated robot's halt",
    "closed_loop": "the closed loop in simulation (tracker, gate, robot feed, simulated robot): "
    "the shipped catheter policy against the scripted controller and a straight-at-target law",
    "display": "the OR display (WebRTC to headless chromium) on the us pipeline at 30 fps with "
    "0, 1 and 3 viewers: added latency p50/p99 and the engine's p99 side by side",
    "all": "every benchmark, writing docs/benchmarks/<name>.md, .json, plots and README.md",
}
"""Benchmark name (its module in ``orstream.bench`` and ``orstream bench`` subcommand) to its
one-line help, in the order ``orstream bench`` lists them."""
