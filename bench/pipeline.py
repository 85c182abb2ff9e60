"""``orstream bench pipeline``: the three live pipelines in real time, against a plain loop.

Per modality (echo 128 px at 50 fps, fluoroscopy 1024x1024 at 15 fps, ultrasound 256 px at
30 fps), for the measurement's duration:

- **ours**: ``orstream.pipelines.Engine("sim:MODALITY?fps=F", MODALITY)``: the simulator as an
  in-process live source (it renders each frame before it falls due), the newest-frame rule,
  the modality's stages. Frames, drops (stale: older frames the newest-frame rule discarded),
  capture-to-result latency p50/p99, time per stage.
- **plain loop** (the peer a user would write first): the same simulator paced in a thread
  into an unbounded queue, the same stage classes called on every frame in order in one loop,
  no runtime. It never drops a frame; when it is slower than the device its latency grows.

The goals of the issue are p99 <= 30 / 66 / 33 ms (echo / fluoro / us) with 0 drops.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from orstream.pipelines import Engine, make_pipeline
from orstream.sim import SimSource, make_simulator

from ._common import format_table, machine_stamp

CASES: Final[tuple[tuple[str, float, float], ...]] = (
    ("echo", 50.0, 30.0),
    ("fluoro", 15.0, 66.0),
    ("us", 30.0, 33.0),
)
"""(modality, frames per second, p99 goal in ms)."""
SEED: Final = 3


def _ours(modality: str, fps: float, duration_s: float) -> dict[str, Any]:
    engine = Engine(f"sim:{modality}?seed={SEED}&fps={fps:g}", modality)
    summary = engine.run(duration_s=duration_s)
    live = summary.paths["live"]
    return {
        "frames": live["frames"],
        "received": summary.source["received"],
        "drops": sum(live["drops"].values()),
        "drops_by_kind": live["drops"],
        "late_renders": summary.source.get("late", 0),
        "latency_ms": live["latency_ms"],
        "stages_ms": live["stages_ms"],
        "measurements": summary.measurements,
    }


def _plain(modality: str, fps: float, duration_s: float) -> dict[str, Any]:
    """The same stages on every frame, in order, in a plain loop fed by a paced thread."""
    stages = make_pipeline(modality).stages
    for stage in stages:
        getattr(stage, "open", lambda: None)()
    source = SimSource(make_simulator(modality, seed=SEED, fps=fps))
    frames: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()

    def device() -> None:
        while not stop.is_set():
            frame = source.recv(timeout_s=0.05)
            if frame is not None:
                frames.put(frame)

    feeder = threading.Thread(target=device, daemon=True)
    feeder.start()
    latencies: list[float] = []
    t_end = time.monotonic() + duration_s
    while time.monotonic() < t_end:
        try:
            frame = frames.get(timeout=0.05)
        except queue.Empty:
            continue
        for stage in stages:
            frame = stage(frame)
        latencies.append((time.time_ns() - frame.t_capture_ns) / 1e6)
    stop.set()
    feeder.join()
    source.close()
    for stage in stages:
        getattr(stage, "close", lambda: None)()
    lat = np.array(latencies)
    return {
        "frames": len(latencies),
        "received": source.received,
        "backlog": frames.qsize(),
        "latency_ms": {
            "p50": round(float(np.percentile(lat, 50)), 3) if lat.size else None,
            "p99": round(float(np.percentile(lat, 99)), 3) if lat.size else None,
            "max": round(float(lat.max()), 3) if lat.size else None,
        },
        "late_renders": source.late,
    }


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure ours and the plain loop for every case of :data:`CASES`."""
    duration = duration_s if duration_s is not None else (2.0 if quick else 20.0)
    cases, errors = [], []
    for modality, fps, goal_ms in CASES:
        try:
            ours = _ours(modality, fps, duration)
            plain = _plain(modality, fps, duration)
        except Exception as exc:  # a failed case is reported, the others still run
            errors.append(f"{modality}: {type(exc).__name__}: {exc}")
            continue
        p99, plain_p99 = ours["latency_ms"]["p99"], plain["latency_ms"]["p99"]
        case = {
            "modality": modality,
            "fps": fps,
            "ours": ours,
            "plain_loop": plain,
            "ratio_p99": None if not p99 or not plain_p99 else round(p99 / plain_p99, 3),
            "goal": {
                "p99_ms": goal_ms,
                "met": bool(p99 is not None and p99 <= goal_ms and ours["drops"] == 0),
            },
        }
        cases.append(case)
        if progress is not None:
            progress(
                f"{modality:6} ours {ours['frames']} frames, drops {ours['drops']}, p50 "
                f"{ours['latency_ms']['p50']} p99 {p99} ms | plain loop p99 {plain_p99} ms, "
                f"backlog {plain['backlog']}"
            )
    return {
        "benchmark": "pipeline",
        "machine": machine_stamp(),
        "settings": {"duration_s": duration, "seed": SEED},
        "peer": "the same stages called on every frame in a plain loop fed by a paced thread",
        "cases": cases,
        "errors": errors,
    }


def render(report: dict[str, Any]) -> str:
    """The report as a table for people."""
    rows = [
        [
            c["modality"],
            c["fps"],
            c["ours"]["frames"],
            c["ours"]["drops"],
            c["ours"]["latency_ms"]["p50"],
            c["ours"]["latency_ms"]["p99"],
            c["plain_loop"]["latency_ms"]["p50"],
            c["plain_loop"]["latency_ms"]["p99"],
            c["plain_loop"]["backlog"],
            c["ratio_p99"],
            f"<= {c['goal']['p99_ms']:g} ms, 0 drops: " + ("met" if c["goal"]["met"] else "MISSED"),
        ]
        for c in report["cases"]
    ]
    header = ["pipeline", "fps", "frames", "drops", "p50 ms", "p99 ms", "plain p50",
              "plain p99", "plain backlog", "p99 ours/plain", "goal"]  # fmt: skip
    m = report["machine"]
    lines = [
        f"orstream bench pipeline ({m['date']}; {m['cpu']}, {m['cores']} cores; "
        f"{report['settings']['duration_s']:g} s per run)",
        format_table(header, rows),
    ]
    lines += [f"error: {e}" for e in report["errors"]]
    return "\n".join(lines)
