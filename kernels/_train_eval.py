"""What every evaluation report shares: summary statistics, speed figures and the header.

A task's ``evaluate`` opens the model with :func:`eval_backend`, starts its report with
:func:`eval_report_header` (model, hash, backend, model-only frames/s, size, machine) and
summarises per-frame scores with :func:`summary_stats`.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._backends import Backend, load_backend
from ._backends_segment import segment_images
from ._models import ModelSpec
from ._train_recipe import TrainOptions


def summary_stats(values: np.ndarray[Any, Any], digits: int = 4) -> dict[str, float | int]:
    """n, mean, median, p5, p95, min and max of the finite ``values`` (any shape), rounded to
    ``digits``; {"n": 0} if none."""
    v = values[np.isfinite(values)]
    if not len(v):
        return {"n": 0}
    return {
        "n": len(v),
        "mean": round(float(np.mean(v)), digits),
        "median": round(float(np.median(v)), digits),
        "p5": round(float(np.percentile(v, 5)), digits),
        "p95": round(float(np.percentile(v, 95)), digits),
        "min": round(float(np.min(v)), digits),
        "max": round(float(np.max(v)), digits),
    }


def frames_per_second(backend: Backend, n: int = 300, batch: int = 1) -> float:
    """Model frames/s of ``backend`` at batch ``batch`` (normalised 0.5 input, warm)."""
    h, w = backend.input_size
    x = np.full((batch, backend.model.in_channels, h, w), 0.5, np.float32)
    for _ in range(20):
        backend.run(x)
    t0 = time.perf_counter()
    runs = max(1, n // batch)
    for _ in range(runs):
        backend.run(x)
    return runs * batch / (time.perf_counter() - t0)


def segment_frames_per_second(backend: Backend, images: Sequence[Any], n: int = 200) -> float:
    """Frames/s of the whole image-to-mask path at batch 1 (letterbox, resize, normalise, run,
    resize logits back, arg-max: ``segment_images``) on ``n`` of ``images`` (cycled) at their
    own size, after a warm-up of 10."""
    frames = [images[i % len(images)] for i in range(n)]
    list(segment_images(backend, frames[:10], batch_size=1))
    t0 = time.perf_counter()
    for _ in segment_images(backend, frames, batch_size=1):
        pass
    return n / (time.perf_counter() - t0)


def eval_backend(spec: ModelSpec, options: TrainOptions) -> Backend:
    """``options.backend`` for ``spec`` with ``options.threads``; ValueError (one line) when
    this machine cannot run that backend."""
    try:
        return load_backend(spec, options.backend, threads=options.threads)
    except (ImportError, RuntimeError) as exc:
        raise ValueError(str(exc)) from exc


def eval_report_header(spec: ModelSpec, backend: Backend, options: TrainOptions) -> dict[str, Any]:
    """The fields every evaluation report starts with: model, hash, backend, threads, speed
    (model-only frames/s at batch 1 over ``options.speed_frames``), size (bytes) and machine."""
    return {
        "model": spec.name,
        "sha256": spec.sha256,
        "backend": backend.name,
        "threads": options.threads,
        "frames_per_s_batch1": round(frames_per_second(backend, options.speed_frames), 1),
        "model_bytes": spec.onnx_path.stat().st_size,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
