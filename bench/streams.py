"""``orstream bench streams``: how many 50-fps echo streams one engine holds with zero drops.

For N = 1, 2, 3, ... : N simulated echo devices, each its own process and stream id
(``echo-0`` ... ``echo-{N-1}``), connect PUB sockets to one engine that binds a SUB on
127.0.0.1 (a fresh port per N) and runs the live echo pipeline exactly as ``orstream run
--pipeline echo`` builds it: ``Pipeline(ZmqFrameSource, [EchoSegmentStage(),
EchoMeasureStage()], workers=default_workers())``, newest frame per stream, frames of
different streams in the stages at once (one thread per core). The engine runs in this
process; it is the only work here while the devices send.

Each device pre-renders a clip of :data:`CLIP_FRAMES` frames (heart rate 75 bpm, so the clip
holds whole beats and loops without a jump) and sends it in a loop at 50 fps: its CPU is the
sending only, so that rendering does not starve the engine (the simulator renders an echo
frame in ~1.2 ms of a core; ``orstream bench sim``). Devices start at evenly spread phases of
the 20 ms frame period, as independent devices would. The first :data:`WARMUP_S` seconds of
frames are not counted.

Per N: frames sent and processed per stream, drops (sent - processed: stale frames the
newest-frame rule discarded, frames lost on the wire, errors), fps per stream, latency
capture-to-result p50/p99/max, the mean batch size, and the engine's CPU use. N grows until a
stream drops a frame or p99 exceeds :data:`P99_BOUND_MS`, or N reaches ``max_streams``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import threading
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from typing import Any, Final

import numpy as np

from ._common import gather_results, machine_stamp
from ._streams_report import P99_BOUND_MS, progress_line, render, why_stopped

__all__ = ["FPS", "P99_BOUND_MS", "measure", "render", "run"]

FPS: Final = 50.0
"""Frame rate of every device (the echo simulator's)."""
HR_BPM: Final = 75.0
"""Heart rate of every simulated heart: 0.8 s per beat, 40 frames at 50 fps."""
CLIP_FRAMES: Final = 200
"""Frames each device pre-renders and loops: 5 whole beats at 75 bpm."""
WARMUP_S: Final = 1.0
"""Seconds of frames sent before the counted ones (thread pools, first model calls)."""
GOAL_STREAMS: Final = 4
"""The issue's goal: at least this many streams with zero drops."""
DEFAULT_DURATION_S: Final = 10.0
QUICK_DURATION_S: Final = 1.5
DEFAULT_MAX_STREAMS: Final = 12
QUICK_MAX_STREAMS: Final = 2
_START_TIMEOUT_S: Final = 60.0


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    """One simulated device: where it sends, as which stream, and when.

    ``t_start_ns``: capture time of its frame 0 (ns since the epoch); frames ``0 ..
    warmup_frames - 1`` are warm-up, the next ``frames`` are counted.
    """

    endpoint: str
    stream_id: str
    seed: int
    t_start_ns: int
    warmup_frames: int
    frames: int
    fps: float = FPS


def device_main(spec: DeviceSpec, ready: Any, result_q: Queue[Any]) -> None:
    """A device process: pre-render the clip, connect, send on schedule, report counts."""
    try:
        from orstream.sim import make_simulator
        from orstream.sim import sim_frame_to_frame as to_frame
        from orstream.stream import ZmqFrameSender

        sim = make_simulator("echo", seed=spec.seed, hr_bpm=HR_BPM, fps=spec.fps)
        clip = [sim.render(i) for i in range(CLIP_FRAMES)]
        sender = ZmqFrameSender(spec.endpoint, pattern="pub")
        ready.set()
        period_ns = 1e9 / spec.fps
        late = 0
        cpu0 = time.process_time()
        total = spec.warmup_frames + spec.frames
        try:
            for k in range(total):
                due = spec.t_start_ns + round(k * period_ns)
                wait_s = (due - time.time_ns()) / 1e9
                if wait_s > 0:
                    time.sleep(wait_s)
                elif k:
                    late += 1
                rendered = dataclasses.replace(clip[k % CLIP_FRAMES], index=k)
                sender.send(to_frame(sim, rendered, spec.stream_id, time.time_ns()))
        finally:
            sender.close()
        cpu_s = time.process_time() - cpu0
        result_q.put((spec.stream_id, {"sent": total, "late": late, "cpu_s": round(cpu_s, 3)}))
    except Exception as exc:
        ready.set()
        result_q.put((spec.stream_id, {"error": f"{type(exc).__name__}: {exc}"}))


class _Tally:
    """A sink noting (stream, seq, capture ns, done ns, segmentation stamp ns) of each frame."""

    name = "tally"

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, int, int, int]] = []

    def write(self, frame: Any) -> None:
        t_seg = next((t for stage, t in frame.trace if stage == "echo-lv"), 0)
        self.rows.append((frame.stream_id, frame.seq, frame.t_capture_ns, time.time_ns(), t_seg))

    def close(self) -> None:
        pass


def measure(
    n: int, duration_s: float, max_batch: int | None = None, workers: int | None = None
) -> dict[str, Any]:
    """One measurement with ``n`` devices sending ``duration_s`` seconds of counted frames;
    ``max_batch``: the engine pipeline's (default: the pipeline's own; 1 is the engine before
    batching, one frame at a time); ``workers``: the pipeline's frames in flight (default:
    :func:`~orstream.pipelines.default_workers`, as ``orstream run`` has it)."""
    from orstream.pipelines import EchoMeasureStage, EchoSegmentStage, default_workers
    from orstream.stream import Pipeline, ZmqFrameSource

    ctx = mp.get_context("spawn")
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="sub")
    endpoint = "zmq+" + source.last_endpoint
    segment, measure_stage = EchoSegmentStage(), EchoMeasureStage()
    tally = _Tally()
    pipeline = Pipeline(
        source,
        [segment, measure_stage],
        [tally],
        workers=default_workers() if workers is None else workers,
    )
    if max_batch is not None:
        pipeline.max_batch = max_batch
    warmup_frames = round(WARMUP_S * FPS)
    frames = max(1, round(duration_s * FPS))
    result_q: Queue[Any] = ctx.Queue()
    readies = [ctx.Event() for _ in range(n)]
    # Every device gets its start time up front, far enough ahead for n spawned processes to
    # import, render their clips and connect; device k starts k/n of a period later.
    start_delay_s = 3.0 + 0.8 * n
    t0 = time.time_ns() + int(start_delay_s * 1e9)
    period_ns = 1e9 / FPS
    specs = [
        DeviceSpec(
            endpoint, f"echo-{k}", 1000 + k, t0 + round(k * period_ns / n), warmup_frames, frames
        )
        for k in range(n)
    ]
    procs = []
    for spec, ready in zip(specs, readies, strict=True):
        proc = ctx.Process(target=device_main, args=(spec, ready, result_q), daemon=True)
        proc.start()
        procs.append(proc)
    results: dict[str, dict[str, Any]] = {}
    cpu: dict[str, float] = {}

    def collect() -> None:
        deadline = time.monotonic() + start_delay_s + WARMUP_S + duration_s + _START_TIMEOUT_S
        results.update(gather_results(result_q, procs, n, deadline))
        time.sleep(0.3)  # the last frames through the engine
        pipeline.stop_event.set()

    def mark_cpu() -> None:
        """This process's CPU time (the engine's, all threads) over the counted frames."""
        for when, t_ns in (("start", t0 + warmup_frames * period_ns),
                           ("end", t0 + (warmup_frames + frames) * period_ns)):  # fmt: skip
            time.sleep(max(0.0, (t_ns - time.time_ns()) / 1e9))
            cpu[f"cpu_{when}"], cpu[f"wall_{when}"] = time.process_time(), time.monotonic()

    collector = threading.Thread(target=collect, daemon=True)
    marker = threading.Thread(target=mark_cpu, daemon=True)
    collector.start()
    marker.start()
    try:
        engine = pipeline.run()
    finally:
        pipeline.stop_event.set()
        collector.join(timeout=10.0)
        segment.close()
        for proc in procs:
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5.0)
    return _result(
        n,
        specs=specs,
        devices=results,
        rows=tally.rows,
        engine=engine,
        cpu=cpu,
        duration_s=duration_s,
    )


def _result(
    n: int,
    *,
    specs: list[DeviceSpec],
    devices: dict[str, dict[str, Any]],
    rows: list[tuple[str, int, int, int, int]],
    engine: dict[str, Any],
    cpu: dict[str, float],
    duration_s: float,
) -> dict[str, Any]:
    errors = [f"{s}: {d['error']}" for s, d in devices.items() if "error" in d]
    errors += [f"{s.stream_id}: no report" for s in specs if s.stream_id not in devices]
    per_stream: list[dict[str, Any]] = []
    latencies: list[int] = []
    seg_stamps: set[int] = set()
    counted_rows = 0
    for spec in specs:
        first, last = spec.warmup_frames, spec.warmup_frames + spec.frames
        mine = [r for r in rows if r[0] == spec.stream_id and first <= r[1] < last]
        counted_rows += len(mine)
        latencies += [r[3] - r[2] for r in mine]
        seg_stamps |= {r[4] for r in mine}
        span_s = (max(r[2] for r in mine) - min(r[2] for r in mine)) / 1e9 if mine else 0.0
        late = devices.get(spec.stream_id, {}).get("late")
        per_stream.append(
            {
                "stream": spec.stream_id,
                "sent": spec.frames,
                "processed": len(mine),
                "drops": spec.frames - len(mine),
                "fps": round((len(mine) - 1) / span_s, 2) if span_s > 0 else None,
                "device_late_frames": late,
            }
        )
    lat_ms = np.asarray(latencies, np.float64) / 1e6
    latency: dict[str, float | None] = {"p50": None, "p99": None, "max": None}
    if lat_ms.size:
        p50, p99 = np.percentile(lat_ms, [50, 99])
        latency = {"p50": round(float(p50), 2), "p99": round(float(p99), 2),
                   "max": round(float(lat_ms.max()), 2)}  # fmt: skip
    live = engine["paths"]["live"]
    source = engine["source"]
    drops = sum(s["drops"] for s in per_stream)
    fps_values = [s["fps"] for s in per_stream if s["fps"] is not None]
    engine_cores = None
    if {"cpu_start", "cpu_end"} <= set(cpu) and cpu["wall_end"] > cpu["wall_start"]:
        engine_cores = round(
            (cpu["cpu_end"] - cpu["cpu_start"]) / (cpu["wall_end"] - cpu["wall_start"]), 2
        )
    p99 = latency["p99"]
    return {
        "streams": n,
        "sent": n * specs[0].frames if specs else 0,
        "processed": counted_rows,
        "drops": drops,
        "fps_per_stream": {
            "min": min(fps_values) if fps_values else None,
            "mean": round(float(np.mean(fps_values)), 2) if fps_values else None,
        },
        "latency_ms": latency,
        "batch_mean": round(counted_rows / len(seg_stamps), 2) if seg_stamps else None,
        "engine_cpu_cores": engine_cores,
        "engine_stages_ms": live["stages_ms"],
        "engine_drops_by_kind": live["drops"],
        "wire_gaps": source["gaps"],
        "per_stream": per_stream,
        "ok": not errors and drops == 0 and p99 is not None and p99 <= P99_BOUND_MS,
        "errors": errors,
        "duration_s": duration_s,
    }


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    max_streams: int | None = None,
    compare: bool | None = None,
) -> dict[str, Any]:
    """Measure N = 1, 2, ... streams until one fails (a drop, or p99 over the bound) or N
    reaches ``max_streams`` (default 12, 2 with ``quick``); ``duration_s`` of counted frames
    per N (default 10 s, 1.5 s with ``quick``). ``compare`` (default: unless ``quick``) also
    measures each N with the engine taking one frame at a time in one thread (``workers=1,
    max_batch=1``, the engine before batching and workers) under ``one_at_a_time``."""
    duration = duration_s or (QUICK_DURATION_S if quick else DEFAULT_DURATION_S)
    top = max_streams or (QUICK_MAX_STREAMS if quick else DEFAULT_MAX_STREAMS)
    compare = not quick if compare is None else compare
    machine = machine_stamp()
    cases = []
    for n in range(1, top + 1):
        case = measure(n, duration)
        if progress is not None:
            progress(progress_line(case))
        if compare:
            single = measure(n, duration, max_batch=1, workers=1)
            case["one_at_a_time"] = {k: single[k] for k in _COMPARED}
            if progress is not None:
                progress("   one frame at a time: " + progress_line(single))
        cases.append(case)
        if not case["ok"]:
            break
    held = [c["streams"] for c in cases if c["ok"]]
    # The most streams held: N such that N and every smaller N held.
    most = 0
    for c in cases:
        if not c["ok"]:
            break
        most = c["streams"]
    from orstream.pipelines import default_workers

    return {
        "benchmark": "streams",
        "machine": {**machine, "load_avg_1m_end": machine_stamp()["load_avg_1m"]},
        "settings": {
            "quick": quick,
            "duration_s": duration,
            "warmup_s": WARMUP_S,
            "fps": FPS,
            "clip_frames": CLIP_FRAMES,
            "hr_bpm": HR_BPM,
            "p99_bound_ms": P99_BOUND_MS,
            "max_streams": top,
            "compare_one_at_a_time": compare,
            "segmentation_workers": default_workers(),
            "phases": "evenly spread over one frame period",
            "engine": "Pipeline(ZmqFrameSource sub bind, [EchoSegmentStage(), EchoMeasureStage()],"
            " workers=default_workers()), in the benchmark's process",
            "devices": "one spawned process each, PUB connect, pre-rendered clip looped",
        },
        "cases": cases,
        "most_streams_held": most,
        "held": held,
        "goal": {
            "streams_min": GOAL_STREAMS,
            "met": most >= GOAL_STREAMS,
            "stopped_by": None if not cases or cases[-1]["ok"] else why_stopped(cases[-1]),
        },
        "errors": [e for c in cases for e in c["errors"]],
    }


_COMPARED: Final = ("drops", "fps_per_stream", "latency_ms", "engine_cpu_cores", "ok", "errors")
