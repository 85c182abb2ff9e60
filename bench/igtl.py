"""``orstream bench igtl``: OpenIGTLink transform latency, frame capture -> TRANSFORM received
by pyigtl's own client (``pyigtl.OpenIGTLinkClient``, what a Slicer-side script would use).

Variants, each on the simulated fluoroscopy device (``sim:fluoro``, 1024 x 1024 16-bit at
15 frames/s) with the IMAGE sent beside every TRANSFORM unless said:

- ``fluoro pipeline``: ``Engine(sim:fluoro, "fluoro")`` into our server (``IgtlServerSink``):
  the tracked tip as ``CatheterTipToImage``; the latency includes the tracking model;
- ``transport``: the same engine with a stage that only puts a fixed tip in the results: our
  server's share of the latency;
- ``pyigtl server``: the peer a user would write instead of ours, ``pyigtl.OpenIGTLinkServer``
  sending the same two messages per frame from a plain loop;
- ``transport, no image`` and ``pyigtl, no image``: the same two without the IMAGE (the
  client then spends no time unpacking 2 MB images between transforms).

Latency = the client's receive time (its poll every 0.5 ms) minus the message timestamp, which
is the frame's capture time; both clocks are this machine's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyigtl

from orstream.pipelines import Engine, LivePipeline
from orstream.stream import Frame, IgtlServerSink, open_source

from ._common import format_table, latency_summary, machine_stamp, ratio

SOURCE: Final = "sim:fluoro?seed=4242&fps=15"
POLL_S: Final = 0.0005
DEVICE: Final = "CatheterTipToImage"


@dataclass(frozen=True)
class _FixedTip:
    def to_json(self) -> dict[str, Any]:
        return {"found": True, "x_mm": 100.0, "y_mm": 120.0}


class _FixedTipStage:
    name = "fixed-tip"

    def __call__(self, frame: Frame) -> Frame:
        frame.results["tip"] = _FixedTip()
        return frame


def _listen(port: int, stop: threading.Event) -> list[tuple[int, int]]:
    """(receive ns, latency ns) of each CatheterTipToImage until ``stop``."""
    client = pyigtl.OpenIGTLinkClient("127.0.0.1", port)
    seen: list[tuple[int, int]] = []
    try:
        while not stop.is_set():
            now = time.time_ns()
            for message in client.get_latest_messages():
                if message.device_name == DEVICE:
                    seen.append((now, now - round(message.timestamp * 1e9)))
            time.sleep(POLL_S)
    finally:
        client.stop()
    return seen


def _measure(port: int, serve: Callable[[threading.Event], None], seconds: float) -> dict[str, Any]:
    stop = threading.Event()
    out: list[list[tuple[int, int]]] = []
    listener = threading.Thread(target=lambda: out.append(_listen(port, stop)))
    listener.start()
    try:
        serve_stop = threading.Event()
        timer = threading.Timer(seconds, serve_stop.set)
        timer.start()
        serve(serve_stop)
    finally:
        time.sleep(0.3)  # the last messages in flight
        stop.set()
        listener.join()
    seen = out[0] if out else []
    skip = len(seen) // 10  # the first tenth: connection and warm-up
    kept = np.array(seen[skip:], dtype=np.int64).reshape(-1, 2)
    return latency_summary(kept[:, 0], kept[:, 1], window_s=max(1.0, seconds / 5))


def _ours(pipeline: str | LivePipeline, seconds: float, image: bool = True) -> dict[str, Any]:
    sink = IgtlServerSink(0, image_device="Image_Reference" if image else None)
    engine = Engine(SOURCE, pipeline, sinks=[sink])

    def serve(stop: threading.Event) -> None:
        threading.Thread(target=lambda: (stop.wait(), engine.stop_event.set())).start()
        engine.run()

    try:
        return _measure(sink.port, serve, seconds)
    finally:
        sink.close()


def _peer(seconds: float, image: bool = True) -> dict[str, Any]:
    server = pyigtl.OpenIGTLinkServer(port=0, local_server=True)
    port = server.server_address[1]
    source = open_source(SOURCE)

    def serve(stop: threading.Event) -> None:
        while not stop.is_set():
            frame = source.recv(0.2)
            if frame is None:
                continue
            t_s = frame.t_capture_ns / 1e9
            matrix = np.eye(4)
            matrix[:2, 3] = (100.0, 120.0)
            server.send_message(pyigtl.TransformMessage(matrix, t_s, DEVICE), wait=False)
            if image:
                pixels = frame.pixels[None]
                message = pyigtl.ImageMessage(pixels, timestamp=t_s, device_name="Image")
                server.send_message(message, wait=False)

    try:
        return _measure(port, serve, seconds)
    finally:
        source.close()
        server.stop()


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Each variant for ``duration_s`` seconds (default 20; ``quick``: 6)."""
    seconds = duration_s or (6.0 if quick else 20.0)

    def fixed() -> LivePipeline:
        return LivePipeline("transport", [_FixedTipStage()])

    plans: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("fluoro pipeline", lambda: _ours("fluoro", seconds)),
        ("transport", lambda: _ours(fixed(), seconds)),
        ("pyigtl server", lambda: _peer(seconds)),
        ("transport, no image", lambda: _ours(fixed(), seconds, image=False)),
        ("pyigtl, no image", lambda: _peer(seconds, image=False)),
    ]
    variants: dict[str, dict[str, Any]] = {}
    errors = []
    for name, measure in plans:
        try:
            variants[name] = measure()
        except (ImportError, RuntimeError, ValueError, OSError) as exc:
            variants[name] = {"error": f"{type(exc).__name__}: {exc}"}
            errors.append(f"{name}: {exc}")
        if progress is not None:
            progress(f"{name:16} {variants[name]}")
    ours, peer = variants["transport"], variants["pyigtl server"]
    return {
        "benchmark": "igtl",
        "machine": machine_stamp(),
        "settings": {"source": SOURCE, "seconds": seconds, "client_poll_s": POLL_S},
        "variants": variants,
        "transport_p99_ratio_to_pyigtl": ratio(ours.get("p99_ms"), peer.get("p99_ms")),
        "errors": errors,
    }


def render(report: dict[str, Any]) -> str:
    """One row per variant: transforms received, fps, latency p50/p99/max."""
    rows = [
        [name, v.get("received"), v.get("fps"), v.get("p50_ms"), v.get("p99_ms"), v.get("max_ms")]
        for name, v in report["variants"].items()
    ]
    m = report["machine"]
    return (
        f"orstream bench igtl ({m['date']}; {m['cpu']}): capture -> TRANSFORM at a pyigtl "
        f"client, {report['settings']['source']}\n"
        + format_table(["variant", "received", "fps", "p50 ms", "p99 ms", "max ms"], rows)
    )
