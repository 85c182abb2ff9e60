"""Shared pieces of the benchmarks: the machine stamp, latency summaries, plain-text tables."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import queue
import sys
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import numpy.typing as npt
import zmq

INSTALL_HINT = "pip install 'orstream[bench]'"


def module_version(name: str) -> str | None:
    """The ``__version__`` of an importable module, or None when it is not installed."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    return str(getattr(module, "__version__", "unknown"))


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux, else what :mod:`platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_stamp() -> dict[str, Any]:
    """Where and when a benchmark ran: CPU, cores, memory, OS, Python and library versions."""
    try:
        usable_cores: int | None = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cores = os.cpu_count()
    try:
        memory_gib: float | None = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
        )
    except (AttributeError, ValueError, OSError):
        memory_gib = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores,
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyzmq": zmq.pyzmq_version(),
        "libzmq": zmq.zmq_version(),
        "imagezmq": module_version("imagezmq"),
        "orstream": module_version("orstream"),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def latency_summary(
    t_recv_ns: npt.NDArray[np.int64], latency_ns: npt.NDArray[np.int64], window_s: float
) -> dict[str, Any]:
    """Throughput and latency figures of one run.

    ``t_recv_ns``: receive times (ns since the epoch, ascending), ``latency_ns``: the matching
    latencies (ns); both of shape (N,). ``window_s``: length of the first and last windows
    whose median latencies show growth. Returns fps (frames/s), latencies in ms.
    """
    n = int(t_recv_ns.size)
    if n == 0:
        return {"received": 0}
    span_s = float(t_recv_ns[-1] - t_recv_ns[0]) / 1e9
    lat_ms = latency_ns.astype(np.float64) / 1e6
    rel_s = (t_recv_ns - t_recv_ns[0]).astype(np.float64) / 1e9
    first = lat_ms[rel_s < window_s]
    last = lat_ms[rel_s >= span_s - window_s]
    p50_first = float(np.median(first))
    p50_last = float(np.median(last))
    return {
        "received": n,
        "span_s": round(span_s, 3),
        "fps": round((n - 1) / span_s, 1) if span_s > 0 else None,
        "p50_ms": round(float(np.percentile(lat_ms, 50)), 3),
        "p99_ms": round(float(np.percentile(lat_ms, 99)), 3),
        "max_ms": round(float(lat_ms.max()), 3),
        "window_s": window_s,
        "p50_first_ms": round(p50_first, 3),
        "p50_last_ms": round(p50_last, 3),
        "growth_ms": round(p50_last - p50_first, 3),
    }


def ratio(ours: float | None, peer: float | None) -> float | None:
    """``ours / peer`` to 3 significant digits, None when either is missing or the peer is 0."""
    if ours is None or peer is None or peer == 0:
        return None
    return float(f"{ours / peer:.3g}")


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: columns padded to their widest cell, None shown as ``-``."""
    cells = [[str(h) for h in header]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def eprint(message: str) -> None:
    """Progress and notes go to stderr, so that ``--json`` leaves stdout to the document."""
    print(message, file=sys.stderr, flush=True)


def gather_results(
    result_q: Any, procs: Sequence[BaseProcess], want: int, deadline: float
) -> dict[Any, dict[str, Any]]:
    """``(key, result)`` pairs from worker processes' ``result_q`` until ``want`` have come,
    every process has exited, or ``time.monotonic()`` passes ``deadline``."""
    results: dict[Any, dict[str, Any]] = {}
    while len(results) < want and time.monotonic() < deadline:
        try:
            key, data = result_q.get(timeout=0.1)
            results[key] = data
        except queue.Empty:
            if all(p.exitcode is not None for p in procs):
                break
    return results
