"""``orstream bench inference``: every shipped model on every backend present, against torch
eager (the reference backend: the same network run by torch without compilation), in one run;
where torch sees a CUDA GPU, torch on it too ("torch-cuda").

Per model and backend: latency per frame at batch 1 (p50/p99 ms, model call only, on a
preprocessed input of the model's size), frames/s, and the ratio to torch eager. Every backend
gets the same number of threads, so the figures compare the runtimes, not the thread counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from orstream.kernels import available_backends, available_models, load_backend, load_model

from ._common import format_table, machine_stamp, ratio

PEER: Final = "torch"
THREADS: Final = 1
TORCH_CUDA: Final = "torch-cuda"
"""The torch reference on a CUDA GPU, timed beside the others where torch sees one (host
arrays in and out, as every backend's ``run``: the copies are in the figure)."""


def _backend_names() -> list[str]:
    names = list(available_backends())
    if "torch" in names:
        import torch

        if torch.cuda.is_available():
            names.append(TORCH_CUDA)
    return names


def _open(spec: Any, name: str) -> Any:
    if name == TORCH_CUDA:
        return load_backend(spec, "torch", threads=THREADS, device="cuda")
    return load_backend(spec, name, threads=THREADS)


def _time_backend(backend: Any, x: np.ndarray[Any, Any], runs: int) -> dict[str, Any]:
    for _ in range(max(3, runs // 10)):
        backend.run(x)
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        backend.run(x)
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {
        "runs": runs,
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "fps": round(float(runs / times.sum()), 1),
    }


def run(
    duration_s: float | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time every model on every available backend; ``duration_s`` is not used."""
    runs = 20 if quick else 300
    backends = _backend_names()
    cases = []
    errors = []
    for name in available_models():
        spec = load_model(name)
        rng = np.random.default_rng(0)
        image = rng.integers(0, 256, (1, *spec.input_size), dtype=np.uint8)
        x = spec.preprocess(image)
        case: dict[str, Any] = {"model": name, "input": [1, 1, *spec.input_size], "backends": {}}
        for backend_name in backends:
            try:
                backend = _open(spec, backend_name)
                result = _time_backend(backend, x, runs)
            except (ImportError, RuntimeError, ValueError) as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"}
                errors.append(f"{name} {backend_name}: {exc}")
            case["backends"][backend_name] = result
            if progress is not None:
                progress(f"{name:16} {backend_name:12} {result}")
        peer = case["backends"].get(PEER, {})
        case["ratios_to_torch_eager"] = {
            b: {
                "p50": ratio(r.get("p50_ms"), peer.get("p50_ms")),
                "fps": ratio(r.get("fps"), peer.get("fps")),
            }
            for b, r in case["backends"].items()
            if b != PEER
        }
        cases.append(case)
    return {
        "benchmark": "inference",
        "machine": machine_stamp(),
        "settings": {"runs": runs, "threads": THREADS, "batch": 1, "peer": "torch eager"},
        "backends": list(backends),
        "cases": cases,
        "errors": errors,
    }


def render(report: dict[str, Any]) -> str:
    """One row per model and backend, with the ratios to torch eager."""
    rows = []
    for case in report["cases"]:
        for name, r in case["backends"].items():
            ratios = case["ratios_to_torch_eager"].get(name, {})
            rows.append(
                [case["model"], name, r.get("p50_ms"), r.get("p99_ms"), r.get("fps"),
                 ratios.get("p50", "peer"), ratios.get("fps", "peer")]
            )  # fmt: skip
    header = ["model", "backend", "p50 ms", "p99 ms", "frames/s", "p50 / torch", "fps / torch"]
    m = report["machine"]
    return (
        f"orstream bench inference ({m['date']}; {m['cpu']}, {report['settings']['threads']} "
        "thread, batch 1)\n" + format_table(header, rows)
    )
