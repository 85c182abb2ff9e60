"""``orstream bench e2e``: echo at 50 fps, capture to result, the demo's processes vs imagezmq.

Ours is ``orstream demo --modality echo`` itself (:func:`orstream.pipelines.run_demo`): three
processes on the loopback, the simulated device (``orstream sim publish``, rendering live at
50 fps), the engine (``orstream run --pipeline echo``: newest frame per stream, echo-lv
segmentation with ONNX Runtime, live measurements) and the lossless recorder (``orstream
record``). Latency is the engine's capture-to-result time: when a frame leaves the
measurement stage minus its capture time on the device (one machine, one clock).

The peer is what a user would put together instead: the same device sending with imagezmq
(PUB/SUB) and the same two stages called in a plain loop on every frame received
(:mod:`orstream.bench._e2e_peer`); no recorder. Ratios are ours / peer: below 1 is better for
latency, above 1 better for fps.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ._common import INSTALL_HINT, format_table, machine_stamp, module_version, ratio
from ._e2e_peer import PeerSpec, run_peer

FPS: Final = 50.0
SEED: Final = 1
DEFAULT_DURATION_S: Final = 20.0
QUICK_DURATION_S: Final = 3.0


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Ours (the demo) then the peer, each sending ``duration_s`` seconds of frames (default
    20 s, 3 s with ``quick``)."""
    from orstream.pipelines import run_demo

    duration = duration_s or (QUICK_DURATION_S if quick else DEFAULT_DURATION_S)
    machine = machine_stamp()
    errors: list[str] = []
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="orstream-bench-e2e-") as tmp:
            demo, _ = run_demo("echo", duration_s=duration, fps=FPS, seed=SEED, workdir=Path(tmp))
        ours = _ours(demo)
    except (RuntimeError, OSError, ValueError) as exc:
        ours = {"error": f"{type(exc).__name__}: {exc}"}
        errors.append(f"ours: {exc}")
    if progress is not None:
        progress(f"orstream (demo): {_line(ours)} ({time.monotonic() - t0:.1f} s)")
    t0 = time.monotonic()
    if module_version("imagezmq") is None:
        peer: dict[str, Any] = {"error": f"imagezmq is not installed ({INSTALL_HINT})"}
    else:
        peer = run_peer(PeerSpec(seed=SEED, fps=FPS, frames=max(1, round(duration * FPS))))
        if peer["errors"]:
            peer["error"] = "; ".join(peer["errors"])
    if progress is not None:
        progress(f"imagezmq + plain loop: {_line(peer)} ({time.monotonic() - t0:.1f} s)")
    return {
        "benchmark": "e2e",
        "machine": {**machine, "load_avg_1m_end": machine_stamp()["load_avg_1m"]},
        "settings": {
            "quick": quick,
            "duration_s": duration,
            "fps": FPS,
            "seed": SEED,
            "frame": "echo 128x128 uint8, sector geometry",
            "backend": "auto (ONNX Runtime on this CPU, one intra-op thread)",
        },
        "peers": {
            "orstream": "orstream demo: sim publish (PUB) -> orstream run --pipeline echo"
            " (SUB, newest frame per stream, EchoSegmentStage, EchoMeasureStage), plus"
            " orstream record on the same feed; three processes",
            "imagezmq": f"imagezmq {module_version('imagezmq')}: ImageSender(REQ_REP=False) ->"
            " ImageHub(REQ_REP=False), EchoSegmentStage then EchoMeasureStage in a plain loop;"
            " two processes, no recorder",
        },
        "orstream": ours,
        "imagezmq": peer,
        "ratios": _ratios(ours, peer),
        "errors": errors,
    }


def _ours(demo: dict[str, Any]) -> dict[str, Any]:
    """The demo summary's figures under the names the peer's use."""
    frames, drops = demo["frames"], demo["drops"]
    return {
        "sent": frames["sent"],
        "received": frames["received"],
        "processed": frames["processed"],
        "recorded": frames["recorded"],
        "drops": frames["sent"] - frames["processed"],
        "drops_by_kind": {
            "stale": drops["live_by_kind"].get("stale", 0),
            "gaps": drops["gaps"],
            "malformed": drops["malformed"],
            "errors": sum(v for k, v in drops["live_by_kind"].items() if k != "stale"),
        },
        "record_gaps": drops["record_gaps"],
        "device_late_frames": drops["device_late_frames"],
        "latency_ms": demo["latency_ms"],
        "stages_ms": demo["stages_ms"],
        "fps": demo["fps"]["engine"],
        "device_fps": demo["fps"]["device"],
        "beats": len(demo.get("beats", [])),
        "ef": demo.get("ef"),
        "heart_rate_bpm": demo.get("heart_rate_bpm"),
        "truth": demo.get("truth", {}),
    }


def _ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    def lat(side: dict[str, Any], key: str) -> float | None:
        value = (side.get("latency_ms") or {}).get(key)
        return None if value is None else float(value)

    return {
        "p50": ratio(lat(ours, "p50"), lat(peer, "p50")),
        "p99": ratio(lat(ours, "p99"), lat(peer, "p99")),
        "max": ratio(lat(ours, "max"), lat(peer, "max")),
        "fps": ratio(ours.get("fps"), peer.get("fps")),
    }


def _line(r: dict[str, Any]) -> str:
    if "error" in r and "processed" not in r:
        return f"ERROR {r['error']}"
    lat = r.get("latency_ms") or {}
    return (
        f"{r.get('processed')}/{r.get('sent')} frames processed, drops {r.get('drops')}, "
        f"latency p50 {lat.get('p50')} p99 {lat.get('p99')} max {lat.get('max')} ms, "
        f"{r.get('fps')} fps"
    )


def render(report: dict[str, Any]) -> str:
    """Both sides in one table, the ratios, and what each side is."""
    rows = []
    for name in ("orstream", "imagezmq"):
        r = report[name]
        lat = r.get("latency_ms") or {}
        rows.append(
            [name, r.get("sent"), r.get("processed"), r.get("drops"), lat.get("p50"),
             lat.get("p99"), lat.get("max"), r.get("fps"), r.get("beats"), r.get("ef"),
             r.get("error", "")]
        )  # fmt: skip
    header = ["", "sent", "processed", "drops", "p50 ms", "p99 ms", "max ms", "fps", "beats",
              "EF", "note"]  # fmt: skip
    m, s, q = report["machine"], report["settings"], report["ratios"]
    truth = report["orstream"].get("truth") or {}
    lines = [
        f"orstream bench e2e ({m['date']}; {m['cpu']}, {m['usable_cores']} cores, load "
        f"{m['load_avg_1m']} -> {m['load_avg_1m_end']})",
        f"echo at {s['fps']:g} fps for {s['duration_s']:g} s, capture to result (segmentation"
        " + measurements)",
        format_table(header, rows),
        f"ours / imagezmq: p50 {q['p50']}, p99 {q['p99']}, max {q['max']} (lower is better);"
        f" fps {q['fps']}",
    ]
    if truth:
        lines.append("simulator truth: " + ", ".join(f"{k} {v:.3g}" for k, v in truth.items()))
    return "\n".join(lines)
