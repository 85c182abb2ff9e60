"""What every trainable model shares: its recipe, its data, fit-export-score, and the registry.

A model's *task* module (``orstream._task_<name>``) holds its :class:`SegRecipe` as ``RECIPE``
and two functions: ``training_data(options) -> TrainingData`` (train batches, validation
batches, a description of the data for the model card) and ``evaluate(spec, options) ->
dict`` (the report on data the training never saw, as JSON). ``train seg`` and ``eval seg``
find the task by model name in :data:`TASKS`; :func:`fit_and_export` trains, exports the ONNX
with its sidecar, scores it and writes ``report.json``.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from . import __version__
from .kernels._backends import Backend, load_backend
from .kernels._models import ModelSpec, load_model, write_sidecar

TASKS: Final = {
    "echo-lv": "orstream._task_echo",
    "fluoro-catheter": "orstream._task_fluoro",
    "us-nerve-vessel": "orstream._task_usgra",
    "us-needle": "orstream._task_needle",
}
"""Model name -> the module that knows how to train and score it."""


@dataclass(frozen=True)
class SegRecipe:
    """How a model is built: input size (H, W), class names (index 0 "background"), MONAI
    architecture, normalisation, whether it has a tip heatmap channel after the class logits,
    and a one-line description for its sidecar."""

    name: str
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    architecture: dict[str, Any]
    normalization: dict[str, Any]
    description: str
    tip_heatmap: bool = False
    in_channels: int = 1
    dice_over_batch: bool = False
    """Pool the Dice loss over the batch, foreground only (see ``SegTrainConfig``)."""

    @property
    def out_channels(self) -> int:
        return len(self.class_names) + self.tip_heatmap


@dataclass(frozen=True)
class TrainOptions:
    """The ``train seg`` / ``eval seg`` settings a task may use (counts are frames)."""

    samples: int = 8000
    val_samples: int = 400
    test_samples: int = 600
    batch_size: int = 16
    seed: int = 0
    workers: int = 1
    backend: str = "onnxruntime"
    threads: int = 1
    device: str = "cpu"
    """Where training runs (torch device: "cpu", "cuda"); evaluation runs on ``backend``."""
    speed_frames: int = 300
    size: int | None = None
    progress: Any = field(default=sys.stderr, repr=False)


@dataclass(frozen=True)
class TrainingData:
    """``train``: epoch -> batches (fresh shuffle/augmentation per epoch); ``val``: fixed
    batches; ``train_frames``/``val_frames``: counts; ``doc``: the model card's data section
    (source, split, seeds or files, augmentation)."""

    train: Callable[[int], Iterable[Any]]
    val: list[Any]
    train_frames: int
    val_frames: int
    doc: dict[str, Any]


class Task(Protocol):
    RECIPE: SegRecipe

    def training_data(self, options: TrainOptions) -> TrainingData: ...

    def evaluate(self, spec: ModelSpec, options: TrainOptions) -> dict[str, Any]: ...

    def print_report(self, report: dict[str, Any]) -> None: ...


def load_task(model: str) -> Task:
    """The task module of model ``model``; ValueError lists the known ones."""
    if model not in TASKS:
        raise ValueError(f"no training recipe for model {model!r}; known: {', '.join(TASKS)}")
    task: Task = importlib.import_module(TASKS[model])
    return task


def map_jobs(
    fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = 1, chunksize: int = 16
) -> Iterator[tuple[Any, Any]]:
    """``(job, fn(job))`` for each job in order, in ``workers`` processes when more than one
    (``fn`` must be a module-level function); rendering training data is the use."""
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from zip(jobs, pool.map(fn, jobs, chunksize=chunksize), strict=True)
    else:
        for job in jobs:
            yield job, fn(job)


def summary(values: np.ndarray[Any, Any], digits: int = 4) -> dict[str, float | int]:
    """n, mean, median, p5, p95, min and max of the finite ``values`` ({"n": 0} if none)."""
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
    from .kernels._backends_segment import segment_images

    frames = [images[i % len(images)] for i in range(n)]
    list(segment_images(backend, frames[:10], batch_size=1))
    t0 = time.perf_counter()
    for _ in segment_images(backend, frames, batch_size=1):
        pass
    return n / (time.perf_counter() - t0)


def open_backend(spec: ModelSpec, options: TrainOptions) -> Backend:
    """``options.backend`` for ``spec``; a backend this machine cannot run is a UsageError."""
    from .cli._errors import UsageError

    try:
        return load_backend(spec, options.backend, threads=options.threads)
    except (ImportError, RuntimeError) as exc:
        raise UsageError(str(exc)) from exc


def report_header(spec: ModelSpec, backend: Backend, options: TrainOptions) -> dict[str, Any]:
    """The fields every evaluation report starts with: model, hash, backend, threads, speed,
    size and machine."""
    return {
        "model": spec.name,
        "sha256": spec.sha256,
        "backend": backend.name,
        "threads": options.threads,
        "frames_per_s_batch1": round(frames_per_second(backend, options.speed_frames), 1),
        "model_bytes": spec.onnx_path.stat().st_size,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def _check_init(init: ModelSpec, recipe: SegRecipe) -> None:
    """UsageError unless ``init`` has ``recipe``'s network, classes, input, channels and tip
    heatmap."""
    from .cli._errors import UsageError

    theirs = (
        init.architecture,
        init.class_names,
        init.input_size,
        init.in_channels,
        init.tip_channel is not None,
    )
    ours = (
        recipe.architecture,
        recipe.class_names,
        recipe.input_size,
        recipe.in_channels,
        recipe.tip_heatmap,
    )
    if theirs != ours:
        raise UsageError(
            f"--init {init.name}: its network, classes or input differ from {recipe.name}'s; "
            "it cannot start this training"
        )


def _device_name(device: str) -> str:
    """``device`` with its GPU's name ("cuda (NVIDIA H200)"), or as given for the CPU."""
    if device == "cpu":
        return device
    import torch

    return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"


def fit_and_export(
    task: Task,
    options: TrainOptions,
    *,
    epochs: int,
    lr: float,
    out: Path,
    command: str,
    init: ModelSpec | None = None,
) -> dict[str, Any]:
    """Train ``task``'s model, export ``out/NAME.onnx`` + sidecar (``out/best.pt`` the best
    state dict), score it with ``task.evaluate`` and write ``out/report.json``; returns the
    report (training summary, per-epoch history, test scores). ``init``: start from that
    model's weights (same architecture, classes and input) instead of a fresh init."""
    from .kernels._backends_torch import build_network, network_from_onnx
    from .kernels._train_seg import (
        SegTrainConfig,
        export_onnx,
        init_heatmap_bias,
        train_segmentation,
    )

    r = task.RECIPE
    if init is not None:
        _check_init(init, r)
    out.mkdir(parents=True, exist_ok=True)
    config = SegTrainConfig(
        epochs=epochs,
        lr=lr,
        seed=options.seed,
        threads=options.threads,
        device=options.device,
        dice_over_batch=r.dice_over_batch,
    )
    t0 = time.perf_counter()
    data = task.training_data(options)
    data_s = time.perf_counter() - t0
    steps = data.train_frames // options.batch_size
    if steps < 1:
        raise ValueError(
            f"--samples {data.train_frames} is less than one batch of {options.batch_size}"
        )
    if init is not None:
        network = network_from_onnx(init).train()
    else:
        network = build_network(r.architecture, r.in_channels, r.out_channels)
        if r.tip_heatmap:
            init_heatmap_bias(network, len(r.class_names))
    result = train_segmentation(
        network,
        data.train,
        data.val,
        n_classes=len(r.class_names),
        steps_per_epoch=steps,
        config=config,
        checkpoint=out / "best.pt",
        progress=options.progress,
    )
    onnx_path = out / f"{r.name}.onnx"
    diff = export_onnx(result.network, onnx_path, r.input_size, in_channels=r.in_channels)
    best = result.history[result.best_epoch - 1]
    training = {
        "command": command,
        "orstream_version": __version__,
        "seed": options.seed,
        "device": _device_name(options.device),
        "init": None if init is None else {"model": init.name, "sha256": init.sha256},
        "data": data.doc,
        "epochs": epochs,
        "batch_size": options.batch_size,
        "optimizer": f"AdamW lr {lr} wd {config.weight_decay}, warm-up "
        f"{config.warmup_steps} steps then cosine",
        "loss": "monai DiceCELoss(softmax"
        + (", batch=True, include_background=False)" if r.dice_over_batch else ")")
        + (" + CenterNet focal loss on the tip heatmap" if r.tip_heatmap else ""),
        "best_epoch": result.best_epoch,
        "val_dice": best.val_dice,
        **({"val_tip": best.val_tip} if best.val_tip is not None else {}),
        "parameters": sum(int(p.numel()) for p in result.network.parameters()),
        "export_max_abs_diff": diff,
    }
    spec = ModelSpec(
        name=r.name,
        onnx_path=onnx_path,
        input_size=r.input_size,
        in_channels=r.in_channels,
        class_names=r.class_names,
        normalization=r.normalization,
        architecture=r.architecture,
        sha256="",
        training=training,
        description=r.description,
        tip_channel=len(r.class_names) if r.tip_heatmap else None,
    )
    write_sidecar(spec)
    spec = load_model(onnx_path)
    print(
        f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB, ORT vs torch "
        f"{diff:.1e}); scoring on data the training never saw",
        file=sys.stderr,
    )
    test = task.evaluate(spec, options)
    report = {
        "training": training,
        "data_s": round(data_s, 1),
        "train_s": round(time.perf_counter() - t0 - data_s, 1),
        "history": result.history_json(),
        "test": test,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
