"""The two ends of one transport-benchmark case, each run in its own (spawned) process.

Transports (:data:`TRANSPORTS`): ``orstream`` is our live path with the payloads on the socket
(shown as ``orstream-tcp``), ``orstream-shm`` the same with ``?shm=1`` (payloads of 512 KiB
and more through a shared-memory ring, the header on the socket only until the receiver follows
the ring), ``imagezmq`` the peer.

The sender binds a PUB on an ephemeral tcp port of 127.0.0.1, reports the port, sends paced
warm-up frames until the receiver has seen :data:`WARMUP_FRAMES` of them (PUB/SUB's slow
joiner: a SUB sees nothing sent before its subscription arrived), then sends measured frames,
paced or as fast as it can, until told to stop. The receiver discards warm-up frames and
measures for ``duration_s`` from the first measured frame. Latency is the receive-side
``time.time_ns()`` when the consumer gets a frame minus the sender's ``time.time_ns()`` just
before the send (one machine, one clock). For ``orstream-shm`` the consumer checks
``frame.intact()`` right after touching a frame: a frame whose slot the sender has reused by
then is counted as ``overwritten`` and not as received.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._common import latency_summary

WARMUP_FRAMES: Final = 3
"""Warm-up frames the receiver must see before the measurement starts."""
WARMUP_PERIOD_S: Final = 0.01
"""Interval between warm-up frames (s)."""
TRANSPORTS: Final = ("orstream", "orstream-shm", "imagezmq")
"""Every transport, in report order (JSON keys of a case)."""
OURS: Final = ("orstream", "orstream-shm")
"""Our transports: payloads on the socket, and through shared memory (same host only)."""
LABELS: Final = {"orstream": "orstream-tcp", "orstream-shm": "orstream-shm", "imagezmq": "imagezmq"}
"""How the tables name each transport (the JSON key ``orstream`` predates ``orstream-shm``)."""
ENDPOINTS: Final = {
    "orstream": "zmq+tcp://127.0.0.1:0?bind=1",
    "orstream-shm": "zmq+tcp://127.0.0.1:0?bind=1&shm=1",
}
"""Our senders' endpoints (PUB, bound, ephemeral port)."""
START_TIMEOUT_S: Final = 15.0
"""Longest wait for a port, a warm-up frame or the first measured frame (s)."""
DISTINCT_FRAMES: Final = 4
"""Pre-generated arrays the sender cycles through."""

Received = tuple[bool, int, npt.NDArray[Any], int | None, Callable[[], bool] | None]
"""(measured, t_send_ns, pixels, t_wire_ns, intact) of one received frame: ``measured`` is
False for warm-up; ``t_wire_ns`` is when the socket handed it over (ns since the epoch), where
known; ``intact`` says whether the pixels are still this frame's (shared memory), else None."""


@dataclass(frozen=True, slots=True)
class CaseSpec:
    """One measurement: a transport, a frame kind, the sender pace and the consumer speed.

    ``shape``/``dtype``: the frames; ``pace_fps``: sender frame rate, None for as fast as it
    can; ``consumer_fps``: consumer rate (it sleeps between frames), None for as fast as it
    can; ``duration_s``: measurement length from the first measured frame; ``window_s``: the
    first and last windows for latency growth.
    """

    transport: str
    kind: str
    shape: tuple[int, ...]
    dtype: str
    modality: str
    pace_fps: float | None
    consumer_fps: float | None
    duration_s: float
    window_s: float
    seed: int = 0


def make_pixels(spec: CaseSpec) -> list[npt.NDArray[Any]]:
    """:data:`DISTINCT_FRAMES` random C-contiguous arrays of ``spec.shape`` and ``spec.dtype``,
    the same in every process for the same seed (uint16 frames hold 12-bit values, as a
    fluoroscopy detector's)."""
    rng = np.random.default_rng(spec.seed)
    high = 4096 if spec.dtype == "uint16" else 256
    return [
        rng.integers(0, high, size=spec.shape, dtype=np.dtype(spec.dtype))
        for _ in range(DISTINCT_FRAMES)
    ]


def sender_main(
    spec: CaseSpec, port_q: Queue[int], ready: Event, stop: Event, result_q: Queue[Any]
) -> None:
    """Sender process: bind, report the port, warm up, send until ``stop``, report counts."""
    close: Callable[[], None] | None = None
    try:
        pixels = make_pixels(spec)
        port, send, close, stats = _open_sender(spec)
        port_q.put(port)
        warmup = _warm_up(send, pixels[0], ready, stop)
        sent, elapsed_s = _send_measured(spec, send, pixels, stop)
        result: dict[str, Any] = {"warmup_sent": warmup, "sent": sent, "send_s": elapsed_s}
        result.update(stats())
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    # The counts go out (flushed) before the socket closes: a close that fails or aborts
    # the process must not lose a measurement that has already been made.
    result_q.put(("sender", result))
    result_q.close()
    result_q.join_thread()
    if close is not None:
        close()


def _open_sender(
    spec: CaseSpec,
) -> tuple[
    int,
    Callable[[npt.NDArray[Any], bool, int], None],
    Callable[[], None],
    Callable[[], dict[str, Any]],
]:
    """``(port, send(image, measured, seq), close(), stats())`` of the case's sender."""
    if spec.transport in OURS:
        from orstream.stream import ZmqFrameSender, make_frame

        sender = ZmqFrameSender(ENDPOINTS[spec.transport], pattern="pub")

        def send(image: npt.NDArray[Any], measured: bool, seq: int) -> None:
            stream = "bench" if measured else "warmup"
            t_ns = time.time_ns()
            sender.send(make_frame(image, stream, seq, t_capture_ns=t_ns, modality=spec.modality))

        def stats() -> dict[str, Any]:
            return {"ring_only": sender.followed_only}

        return int(sender.last_endpoint.rsplit(":", 1)[1]), send, sender.close, stats

    import imagezmq
    import zmq

    image_sender = imagezmq.ImageSender(connect_to="tcp://127.0.0.1:0", REQ_REP=False)

    def send_izmq(image: npt.NDArray[Any], measured: bool, seq: int) -> None:
        image_sender.send_image(f"{'m' if measured else 'w'} {seq} {time.time_ns()}", image)

    def close_izmq() -> None:
        # Without linger 0 closing would wait for up to 1000 queued frames to go out.
        image_sender.zmq_socket.setsockopt(zmq.LINGER, 0)
        image_sender.close()

    endpoint = image_sender.zmq_socket.getsockopt(zmq.LAST_ENDPOINT).decode()
    return int(endpoint.rsplit(":", 1)[1]), send_izmq, close_izmq, dict


def _warm_up(
    send: Callable[[npt.NDArray[Any], bool, int], None],
    image: npt.NDArray[Any],
    ready: Event,
    stop: Event,
) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    count = 0
    while not ready.is_set():
        if stop.is_set() or time.monotonic() > deadline:
            raise TimeoutError(f"receiver did not see warm-up frames within {START_TIMEOUT_S} s")
        send(image, False, count)
        count += 1
        ready.wait(WARMUP_PERIOD_S)
    return count


def _send_measured(
    spec: CaseSpec,
    send: Callable[[npt.NDArray[Any], bool, int], None],
    pixels: list[npt.NDArray[Any]],
    stop: Event,
) -> tuple[int, float]:
    period_s = 1.0 / spec.pace_fps if spec.pace_fps else 0.0
    cap_s = spec.duration_s + START_TIMEOUT_S
    t0 = time.perf_counter()
    next_t = t0
    sent = 0
    while not stop.is_set():
        now = time.perf_counter()
        if now - t0 > cap_s:
            break
        if period_s:
            if next_t > now:
                time.sleep(next_t - now)
            # A late frame starts a new schedule: no burst to catch up.
            next_t = max(next_t + period_s, time.perf_counter())
        send(pixels[sent % len(pixels)], True, sent)
        sent += 1
    return sent, round(time.perf_counter() - t0, 3)


def receiver_main(
    spec: CaseSpec, port_q: Queue[int], ready: Event, stop: Event, result_q: Queue[Any]
) -> None:
    """Receiver process: connect, warm up, measure for ``spec.duration_s``, report a summary."""
    try:
        port = port_q.get(timeout=START_TIMEOUT_S)
        recv, stats, close = _open_receiver(spec, port)
        try:
            result = _measure(spec, recv, ready, stop)
            result.update(stats())
        finally:
            stop.set()
            close()
        result_q.put(("receiver", result))
    except Exception as exc:
        stop.set()
        result_q.put(("receiver", {"error": f"{type(exc).__name__}: {exc}"}))


def _open_receiver(
    spec: CaseSpec, port: int
) -> tuple[Callable[[float], Received | None], Callable[[], dict[str, Any]], Callable[[], None]]:
    if spec.transport in OURS:
        from orstream.stream import LatestFrameSource, ZmqFrameSource

        source = LatestFrameSource(ZmqFrameSource(f"zmq+tcp://127.0.0.1:{port}", pattern="sub"))

        def recv(timeout_s: float) -> Received | None:
            frame = source.recv(timeout_s)
            if frame is None:
                return None
            t_wire = next((t for stage, t in frame.trace if stage == "recv"), None)
            intact = frame.intact if frame.lease is not None else None
            return frame.stream_id == "bench", frame.t_capture_ns, frame.pixels, t_wire, intact

        def stats() -> dict[str, Any]:
            s = source.stats()
            return {
                "wire_received": s["received"],
                "followed": s["followed"],
                "stale_dropped": s["stale"],
                "gaps": s["gaps"],
                "overruns": s["overruns"],
            }

        return recv, stats, source.close

    import imagezmq

    hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{port}", REQ_REP=False)

    def recv_izmq(timeout_s: float) -> Received | None:
        # poll only bounds the wait; the frame itself comes from recv_image, as users call it.
        if not hub.zmq_socket.poll(int(timeout_s * 1000)):
            return None
        msg, image = hub.recv_image()
        tag, _, t_ns = str(msg).split(" ")
        return tag == "m", int(t_ns), image, None, None

    return recv_izmq, dict, hub.close


def _measure(
    spec: CaseSpec, recv: Callable[[float], Received | None], ready: Event, stop: Event
) -> dict[str, Any]:
    """Consume frames for ``spec.duration_s`` from the first measured one; summarise them.

    ``received`` counts the frames the consumer got whole; ``overwritten`` those whose
    shared-memory slot was reused before the consumer had touched them (not received), and
    ``overwritten_during_work`` those received whole but reused before a slow consumer's
    1/``consumer_fps`` s of work on them ended (a consumer that reads the pixels that long
    must copy them first).
    """
    duration_ns = int(spec.duration_s * 1e9)
    period_s = 1.0 / spec.consumer_fps if spec.consumer_fps else 0.0
    t_recv: list[int] = []
    latency: list[int] = []
    wire: list[int] = []
    warmup_seen = 0
    overwritten = 0
    overwritten_during_work = 0
    checksum = 0
    t_first: int | None = None
    t_last = 0
    deadline = time.monotonic() + START_TIMEOUT_S
    while not stop.is_set():
        item = recv(0.05)
        t_ns = time.time_ns()
        if item is None:
            if t_first is None and time.monotonic() > deadline:
                raise TimeoutError(f"no frame within {START_TIMEOUT_S} s")
            continue
        measured, t_send_ns, pixels, t_wire_ns, intact = item
        checksum += int(pixels.flat[-1])  # the consumer touches the frame
        whole = intact is None or intact()
        if not measured:
            warmup_seen += 1
            if warmup_seen >= WARMUP_FRAMES:
                ready.set()
            continue
        if t_first is None:
            t_first = t_ns
        t_last = t_ns
        if whole:
            t_recv.append(t_ns)
            latency.append(t_ns - t_send_ns)
            if t_wire_ns is not None:
                wire.append(t_wire_ns - t_send_ns)
        else:
            overwritten += 1
        if t_ns - t_first >= duration_ns:
            break
        if period_s:
            # A slow consumer: the frame takes it 1/consumer_fps to process.
            stop.wait(max(0.0, period_s - (time.time_ns() - t_ns) / 1e9))
            if whole and intact is not None and not intact():
                overwritten_during_work += 1
    stopped_early = t_first is None or t_last - t_first < duration_ns
    result = latency_summary(
        np.asarray(t_recv, dtype=np.int64), np.asarray(latency, dtype=np.int64), spec.window_s
    )
    if wire:
        # Send to socket hand-over (the receive thread decoded it); the rest is the hop to the
        # consumer thread.
        wire_ms = np.asarray(wire, dtype=np.float64) / 1e6
        result["wire_p50_ms"] = round(float(np.percentile(wire_ms, 50)), 3)
        result["wire_p99_ms"] = round(float(np.percentile(wire_ms, 99)), 3)
    if spec.transport == "orstream-shm":
        result["overwritten"] = overwritten
        if period_s:
            result["overwritten_during_work"] = overwritten_during_work
    result.update({"warmup_seen": warmup_seen, "incomplete": stopped_early})
    return result
