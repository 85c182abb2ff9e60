"""The e2e benchmark's peer: imagezmq as the transport, the same echo stages in a plain loop.

Two spawned processes, like the demo's device and engine: the sender renders the same
simulated echo device live (``make_simulator("echo", seed=...)``) at its 50 fps and sends
each frame with imagezmq (``ImageSender(REQ_REP=False)``: a PUB, bound on an ephemeral port
of 127.0.0.1), the capture time (``time.time_ns()`` just before the send) in the message; the
consumer (``ImageHub(REQ_REP=False)``, SUB) runs ``EchoSegmentStage`` then
``EchoMeasureStage`` on every frame it receives, in a plain loop, and notes capture-to-result
latency when the measurement stage returns. Warm-up frames (sent until the consumer has run
:data:`WARMUP_FRAMES` of them, PUB/SUB's slow joiner) are not counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Any, Final

import numpy as np

from ._common import gather_results

WARMUP_FRAMES: Final = 25
"""Frames the consumer must have processed before the counted ones are sent."""
START_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True)
class PeerSpec:
    """``frames`` counted frames of simulator ``seed`` at ``fps``."""

    seed: int
    fps: float
    frames: int


def sender_main(spec: PeerSpec, port_q: Queue[int], ready: Any, result_q: Queue[Any]) -> None:
    """Render and send live: warm-up frames until ``ready``, then ``spec.frames`` counted."""
    try:
        import imagezmq
        import zmq

        from orstream.sim import make_simulator

        sim = make_simulator("echo", seed=spec.seed, fps=spec.fps)
        sender = imagezmq.ImageSender(connect_to="tcp://127.0.0.1:0", REQ_REP=False)
        endpoint = sender.zmq_socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        port_q.put(int(endpoint.rsplit(":", 1)[1]))
        period_ns = round(1e9 / spec.fps)
        index = 0
        late = 0
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            t0 = time.time_ns()
            while not ready.is_set():  # warm-up, at the device's rate
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the consumer was not ready within {START_TIMEOUT_S} s")
                image = sim.render(index).image
                _wait_until(t0 + index * period_ns)
                sender.send_image(f"w {index} {time.time_ns()}", image)
                index += 1
            t0 = time.time_ns() + period_ns
            for seq in range(spec.frames):
                image = sim.render(index + seq).image
                if not _wait_until(t0 + seq * period_ns):
                    late += 1
                sender.send_image(f"m {seq} {time.time_ns()}", image)
        finally:
            sender.zmq_socket.setsockopt(zmq.LINGER, 1000)
            sender.close()
        result_q.put(("sender", {"sent": spec.frames, "late_frames": late, "warmup": index}))
    except Exception as exc:
        ready.set()
        result_q.put(("sender", {"error": f"{type(exc).__name__}: {exc}"}))


def _wait_until(t_ns: int) -> bool:
    """Sleep until ``t_ns`` (ns since the epoch); False when it had already passed."""
    wait_s = (t_ns - time.time_ns()) / 1e9
    if wait_s > 0:
        time.sleep(wait_s)
        return True
    return False


def consumer_main(spec: PeerSpec, port_q: Queue[int], ready: Any, result_q: Queue[Any]) -> None:
    """Receive with imagezmq and run the echo stages in a plain loop; report latencies."""
    try:
        import imagezmq

        from orstream.pipelines import EchoMeasureStage, EchoSegmentStage
        from orstream.sim import make_simulator
        from orstream.stream import make_frame

        spacing = make_simulator("echo", seed=spec.seed).spacing_mm
        segment, measure = EchoSegmentStage(), EchoMeasureStage()
        port = port_q.get(timeout=START_TIMEOUT_S)
        hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{port}", REQ_REP=False)
        latency: list[int] = []
        t_done: list[int] = []
        warm = 0
        got = 0
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while got < spec.frames and time.monotonic() < deadline:
                if not hub.zmq_socket.poll(100):
                    continue
                msg, image = hub.recv_image()
                tag, seq, t_capture = str(msg).split(" ")
                frame = make_frame(
                    image, "peer", int(seq), t_capture_ns=int(t_capture),
                    modality="echo", spacing_mm=spacing,
                )  # fmt: skip
                measure(segment(frame))
                done = time.time_ns()
                if tag == "w":
                    warm += 1
                    if warm >= WARMUP_FRAMES:
                        ready.set()
                    continue
                got += 1
                latency.append(done - frame.t_capture_ns)
                t_done.append(done)
                deadline = time.monotonic() + 5.0  # the sender is live: more is coming
        finally:
            hub.close()
        result_q.put(("consumer", _summary(latency, t_done, measure.summary(final=True).to_json())))
    except Exception as exc:
        ready.set()
        result_q.put(("consumer", {"error": f"{type(exc).__name__}: {exc}"}))


def _summary(latency: list[int], t_done: list[int], measured: dict[str, Any]) -> dict[str, Any]:
    lat_ms = np.asarray(latency, np.float64) / 1e6
    out: dict[str, Any] = {"processed": len(latency)}
    if lat_ms.size:
        p50, p99 = np.percentile(lat_ms, [50, 99])
        out["latency_ms"] = {
            "p50": round(float(p50), 3),
            "p99": round(float(p99), 3),
            "max": round(float(lat_ms.max()), 3),
        }
        out["latency_percentiles_ms"] = [
            round(float(v), 3) for v in np.percentile(lat_ms, np.arange(0, 101))
        ]
    span_s = (t_done[-1] - t_done[0]) / 1e9 if len(t_done) > 1 else 0.0
    out["fps"] = round((len(t_done) - 1) / span_s, 2) if span_s > 0 else None
    out["beats"] = len(measured["beats"])
    out["ef"] = measured["ef"]
    out["heart_rate_bpm"] = measured["heart_rate_bpm"]
    return out


def run_peer(spec: PeerSpec) -> dict[str, Any]:
    """Run the sender and the consumer (spawned) and merge their reports."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    port_q: Queue[int] = ctx.Queue()
    result_q: Queue[Any] = ctx.Queue()
    ready = ctx.Event()
    procs = [
        ctx.Process(target=target, args=(spec, port_q, ready, result_q), daemon=True)
        for target in (sender_main, consumer_main)
    ]
    for proc in procs:
        proc.start()
    results: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 2 * START_TIMEOUT_S + spec.frames / spec.fps
    try:
        results = gather_results(result_q, procs, 2, deadline)
    finally:
        for proc in procs:
            proc.join(timeout=10.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5.0)
    sender = results.get("sender", {"error": "the sender gave no report"})
    consumer = results.get("consumer", {"error": "the consumer gave no report"})
    errors = [f"{role}: {r['error']}" for role, r in (("sender", sender), ("consumer", consumer))
              if "error" in r]  # fmt: skip
    merged: dict[str, Any] = {k: v for k, v in consumer.items() if k != "error"}
    merged["sent"] = sender.get("sent")
    merged["device_late_frames"] = sender.get("late_frames")
    if merged.get("sent") is not None and "processed" in merged:
        merged["drops"] = merged["sent"] - merged["processed"]
    merged["errors"] = errors
    return merged
