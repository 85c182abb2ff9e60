"""``orstream bench transport``: our ZeroMQ live path against imagezmq's PUB/SUB, same frames.

For each frame kind (echo 256x256 uint8, fluoroscopy 1024x1024 uint16, 1080p RGB uint8) and
each transport (ours with payloads on the socket, ``orstream``, shown as ``orstream-tcp``; ours
with payloads through shared memory, ``orstream-shm``; imagezmq), four measurements, each with
a fresh sender and receiver process (spawned) on a fresh tcp port of 127.0.0.1:

- ``sustained``: unpaced sender, consumer as fast as it can: frames the consumer got per second;
- ``paced``: sender at 60 fps: p50/p99 latency (ms);
- ``slow``: sender at 60 fps, consumer at ~15 fps: median latency in the first and the last
  window and its growth;
- ``slow_unpaced``: the same with an unpaced sender (skipped with ``quick``: imagezmq queues up
  to 1000 frames, GBs at 1080p).

A case whose sender or receiver grows past ``rss_limit_bytes`` is stopped early and says so.
Ours is ``ZmqFrameSender`` (PUB, bound; ``?shm=1`` for ``orstream-shm``) to
``LatestFrameSource(ZmqFrameSource)`` (SUB, connected); imagezmq is
``ImageSender(REQ_REP=False)`` to ``ImageHub(REQ_REP=False)``. Each case's ``ratios`` are
``orstream`` / imagezmq and its ``ratios_shm`` are ``orstream-shm`` / imagezmq.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Iterable
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any, Final

from orstream.stream import SHM_DEFAULT_SLOTS, SHM_DIR, shm_available

from ._common import INSTALL_HINT, machine_stamp, module_version, ratio
from ._transport_peers import (
    LABELS,
    OURS,
    START_TIMEOUT_S,
    TRANSPORTS,
    CaseSpec,
    receiver_main,
    sender_main,
)
from ._transport_report import RATIO_KEYS, goals, render

__all__ = ["FRAME_KINDS", "MODES", "render", "run"]

FRAME_KINDS: Final[dict[str, tuple[tuple[int, ...], str, str]]] = {
    "echo": ((256, 256), "uint8", "echo"),
    "fluoro": ((1024, 1024), "uint16", "fluoro"),
    "rgb1080p": ((1080, 1920, 3), "uint8", "other"),
}
"""Frame kind: (shape, dtype, modality)."""

PACE_FPS: Final = 60.0
"""Sender frame rate of the paced and slow-receiver measurements."""
SLOW_CONSUMER_FPS: Final = 15.0
"""Consumer rate of the slow-receiver measurements."""
MODES: Final[dict[str, tuple[float | None, float | None]]] = {
    "sustained": (None, None),
    "paced": (PACE_FPS, None),
    "slow": (PACE_FPS, SLOW_CONSUMER_FPS),
    "slow_unpaced": (None, SLOW_CONSUMER_FPS),
}
"""Measurement: (sender fps, consumer fps); None is as fast as it can."""
DEFAULT_DURATION_S: Final = 5.0
QUICK_DURATION_S: Final = 0.3
DEFAULT_RSS_LIMIT_BYTES: Final = 3 * 2**30
_POLL_S: Final = 0.05


def run(
    duration_s: float | None = None,
    quick: bool = False,
    kinds: Iterable[str] | None = None,
    rss_limit_bytes: int = DEFAULT_RSS_LIMIT_BYTES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return its report (JSON-serialisable).

    ``duration_s``: length of each measurement (s; default 5, or 0.3 with ``quick``);
    ``kinds``: a subset of :data:`FRAME_KINDS` (default all); ``rss_limit_bytes``: a case
    stops early when a process's resident memory passes it; ``progress``: called with one
    line per case.
    """
    duration = (
        duration_s
        if duration_s is not None
        else (QUICK_DURATION_S if quick else DEFAULT_DURATION_S)
    )
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration} s")
    kind_names = list(kinds) if kinds is not None else list(FRAME_KINDS)
    unknown = [k for k in kind_names if k not in FRAME_KINDS]
    if unknown:
        raise ValueError(f"unknown frame kind(s) {unknown}; known: {', '.join(FRAME_KINDS)}")
    izmq_version = module_version("imagezmq")
    has_shm = shm_available()
    transports = [
        t
        for t in TRANSPORTS
        if (t != "imagezmq" or izmq_version is not None) and (t != "orstream-shm" or has_shm)
    ]
    if izmq_version is None and progress is not None:
        progress(f"imagezmq is not installed, measuring orstream only ({INSTALL_HINT})")
    if not has_shm and progress is not None:
        progress(f"no writable {SHM_DIR} (shared memory is Linux-only): skipping orstream-shm")
    modes = [m for m in MODES if not (quick and m == "slow_unpaced")]
    durations = {
        "sustained": duration,
        "paced": max(duration, 0.5),
        "slow": max(duration, 0.8),
        "slow_unpaced": max(duration, 0.8),
    }
    window_s = round(min(1.0, durations["slow"] / 3), 3)
    machine = machine_stamp()
    ctx = mp.get_context("spawn")
    cases = []
    for kind in kind_names:
        shape, dtype, modality = FRAME_KINDS[kind]
        case: dict[str, Any] = {"frame": kind, "shape": list(shape), "dtype": dtype}
        for transport in transports:
            case[transport] = {}
        for mode in modes:
            pace, consumer = MODES[mode]
            for transport in transports:
                spec = CaseSpec(
                    transport,
                    kind,
                    shape,
                    dtype,
                    modality,
                    pace,
                    consumer,
                    durations[mode],
                    window_s,
                )
                t0 = time.monotonic()
                result = _run_case(ctx, spec, rss_limit_bytes)
                case[transport][mode] = result
                if progress is not None:
                    progress(_progress_line(kind, transport, mode, result, time.monotonic() - t0))
        if "imagezmq" in case:
            for ours in OURS:
                if ours in case:
                    case[RATIO_KEYS[ours]] = _ratios(case[ours], case["imagezmq"])
        cases.append(case)
    report: dict[str, Any] = {
        "benchmark": "transport",
        "machine": {**machine, "load_avg_1m_end": machine_stamp()["load_avg_1m"]},
        "settings": {
            "quick": quick,
            "duration_s": duration,
            "durations_s": {m: durations[m] for m in modes},
            "window_s": window_s,
            "pace_fps": PACE_FPS,
            "slow_consumer_fps": SLOW_CONSUMER_FPS,
            "rss_limit_gib": round(rss_limit_bytes / 2**30, 2),
            "seed": 0,
            "endpoints": "tcp://127.0.0.1, ephemeral port per case",
            "shm_slots": SHM_DEFAULT_SLOTS,
        },
        "transports": transports,
        "labels": {t: LABELS[t] for t in transports},
        "peers": {
            "orstream": "ZmqFrameSender(pub, bind) -> LatestFrameSource(ZmqFrameSource(sub))",
            "orstream-shm": (
                "ZmqFrameSender(pub, bind, shm=1: payloads >= 512 KiB through a ring of"
                f" {SHM_DEFAULT_SLOTS} /dev/shm slots, header on the socket until every"
                " subscriber follows the ring) -> LatestFrameSource(ZmqFrameSource(sub))"
                if has_shm
                else f"skipped: no writable {SHM_DIR}"
            ),
            "imagezmq": (
                f"imagezmq {izmq_version}: ImageSender(REQ_REP=False) -> ImageHub(REQ_REP=False)"
                if izmq_version is not None
                else f"not installed; {INSTALL_HINT}"
            ),
        },
        "cases": cases,
        "errors": [
            f"{case['frame']} {ours} {mode}: {result['error']}"
            for case in cases
            for ours in OURS
            for mode, result in case.get(ours, {}).items()
            if isinstance(result, dict) and "error" in result
        ],
    }
    report["goals"] = goals(report) if izmq_version is not None else None
    return report


def _run_case(ctx: SpawnContext, spec: CaseSpec, rss_limit_bytes: int) -> dict[str, Any]:
    """One measurement in a fresh sender and receiver process; the parent watches memory."""
    port_q = ctx.Queue()
    result_q = ctx.Queue()
    ready, stop = ctx.Event(), ctx.Event()
    args = (spec, port_q, ready, stop, result_q)
    procs: dict[str, SpawnProcess] = {
        "sender": ctx.Process(target=sender_main, args=args, daemon=True),
        "receiver": ctx.Process(target=receiver_main, args=args, daemon=True),
    }
    for proc in procs.values():
        proc.start()
    results: dict[str, dict[str, Any]] = {}
    peak = dict.fromkeys(procs, 0)
    exited_at: dict[str, float] = {}
    stopped_early: str | None = None
    t0 = time.monotonic()
    deadline = t0 + spec.duration_s + 3 * START_TIMEOUT_S
    try:
        while len(results) < len(procs) and time.monotonic() < deadline:
            try:
                role, data = result_q.get(timeout=_POLL_S)
                results[role] = data
            except queue.Empty:
                pass
            for role, proc in procs.items():
                rss = _rss_bytes(proc.pid)
                peak[role] = max(peak[role], rss or 0)
                if rss is not None and rss > rss_limit_bytes and stopped_early is None:
                    took_s = time.monotonic() - t0
                    stopped_early = (
                        f"{role} RSS {rss / 2**30:.2f} GiB passed the "
                        f"{rss_limit_bytes / 2**30:.1f} GiB limit after {took_s:.1f} s"
                    )
                    stop.set()
                if proc.exitcode is not None and role not in results:
                    exited_at.setdefault(role, time.monotonic())
                    if time.monotonic() - exited_at[role] > 2.0:
                        _drain(result_q, results)  # its result may be queued behind another
                    if role not in results and time.monotonic() - exited_at[role] > 2.0:
                        results[role] = {"error": f"{role} exited with code {proc.exitcode}"}
    finally:
        stop.set()
        for proc in procs.values():
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5.0)
        if spec.transport == "orstream-shm":
            _remove_rings(procs["sender"].pid)
    _drain(result_q, results)  # a result that arrived while the loop gave up
    return _merge(results, peak, stopped_early)


def _drain(result_q: Any, results: dict[str, dict[str, Any]]) -> None:
    """Move every result already in ``result_q`` into ``results`` (never blocks)."""
    while True:
        try:
            role, data = result_q.get_nowait()
        except (queue.Empty, EOFError, OSError, ValueError):  # empty, or a killed writer's
            return
        results.setdefault(role, data)


def _remove_rings(pid: int | None) -> None:
    """Unlink the shared-memory rings a sender left behind (it unlinks them itself unless it
    was killed); the ring's name starts with its creator's pid."""
    if pid is None:
        return
    for path in SHM_DIR.glob(f"orstream-{pid}-*"):
        path.unlink(missing_ok=True)


def _merge(
    results: dict[str, dict[str, Any]], peak: dict[str, int], stopped_early: str | None
) -> dict[str, Any]:
    sender = results.get("sender", {"error": "sender gave no result (timed out)"})
    receiver = results.get("receiver", {"error": "receiver gave no result (timed out)"})
    errors = [r["error"] for r in (receiver, sender) if "error" in r]
    merged: dict[str, Any] = dict(receiver) if "error" not in receiver else {}
    if errors and not merged.get("received"):
        merged["error"] = "; ".join(errors)
    merged["sent"] = sender.get("sent")
    if "ring_only" in sender:
        merged["ring_only"] = sender["ring_only"]
    if "error" in sender and "error" not in merged:
        merged["sender_error"] = sender["error"]
    if sender.get("sent") and sender.get("send_s"):
        merged["send_fps"] = round(sender["sent"] / sender["send_s"], 1)
    merged["peak_rss_mib"] = {role: round(b / 2**20) for role, b in peak.items()}
    merged["stopped_early"] = stopped_early
    return merged


def _rss_bytes(pid: int | None) -> int | None:
    """Resident memory of a process (bytes), None when it is gone."""
    if pid is None:
        return None
    try:
        import psutil
    except ImportError:
        psutil = None
    try:
        if psutil is not None:
            return int(psutil.Process(pid).memory_info().rss)
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * 4096
    except Exception:
        return None


def _ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """Ours / imagezmq for each headline figure (> 1 is better for fps, < 1 for latency)."""

    def pick(side: dict[str, Any], mode: str, key: str) -> float | None:
        value = side.get(mode, {}).get(key)
        return float(value) if value is not None else None

    return {
        "sustained_fps": ratio(pick(ours, "sustained", "fps"), pick(peer, "sustained", "fps")),
        "paced_p50": ratio(pick(ours, "paced", "p50_ms"), pick(peer, "paced", "p50_ms")),
        "paced_p99": ratio(pick(ours, "paced", "p99_ms"), pick(peer, "paced", "p99_ms")),
        "slow_p50_last": ratio(
            pick(ours, "slow", "p50_last_ms"), pick(peer, "slow", "p50_last_ms")
        ),
        "slow_unpaced_p50_last": ratio(
            pick(ours, "slow_unpaced", "p50_last_ms"), pick(peer, "slow_unpaced", "p50_last_ms")
        ),
    }


def _progress_line(kind: str, transport: str, mode: str, r: dict[str, Any], took_s: float) -> str:
    head = f"{kind:9} {LABELS[transport]:12} {mode:13}"
    if "error" in r:
        return f"{head} ERROR {r['error']}"
    wire = f" (wire p50 {r['wire_p50_ms']} ms)" if "wire_p50_ms" in r else ""
    shm = (
        f"  overruns {r.get('overruns')} overwritten {r['overwritten']}"
        + (
            f" (+{r['overwritten_during_work']} during work)"
            if "overwritten_during_work" in r
            else ""
        )
        if "overwritten" in r
        else ""
    )
    note = f"  STOPPED EARLY: {r['stopped_early']}" if r.get("stopped_early") else ""
    return (
        f"{head} {r.get('fps')} fps  p50 {r.get('p50_ms')} ms{wire}  p99 {r.get('p99_ms')} ms"
        f"  last-window p50 {r.get('p50_last_ms')} ms{shm}  ({took_s:.1f} s){note}"
    )
