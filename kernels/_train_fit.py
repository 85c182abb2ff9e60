"""Train a task's model, export it with its sidecar, score it and write the report.

:func:`fit_and_export` is the whole ``train seg`` run for any :class:`~._train_recipe.SegTask`:
build the recipe's network (or start from a model's weights), train it on the task's data
(:func:`~._train_seg.train_segmentation`), export the ONNX (:func:`~._train_export.export_onnx`)
with its sidecar, score it with the task's ``evaluate`` and save ``report.json``. Needs torch
and MONAI (``orstream[train]``).
"""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ._models import ModelSpec, load_model, write_sidecar
from ._train_recipe import SegRecipe, SegTask, TrainOptions


def _version() -> str:
    """The installed orstream's version ("unknown" when run from a bare source tree)."""
    try:
        return metadata.version("orstream")
    except metadata.PackageNotFoundError:
        return "unknown"


def check_init(init: ModelSpec, recipe: SegRecipe) -> None:
    """ValueError unless ``init`` has ``recipe``'s network, classes, input, channels and tip
    heatmap (only then can its weights start this training)."""
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
        raise ValueError(
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
    task: SegTask,
    options: TrainOptions,
    *,
    epochs: int,
    lr: float,
    out: Path,
    command: str,
    init: ModelSpec | None = None,
    keep: str = "best",
) -> dict[str, Any]:
    """Train ``task``'s model, export ``out/NAME.onnx`` + sidecar (``out/best.pt`` the best
    state dict), score it with ``task.evaluate`` and write ``out/report.json``; returns the
    report (training summary, per-epoch history, test scores). ``command``: the command line
    the model card cites; ``init``: start from that model's weights (same architecture,
    classes and input, else ValueError) instead of a fresh init; ``keep``: "best" (validation)
    or "last" epoch's weights (``SegTrainConfig.keep``)."""
    from ._backends_torch import build_network, network_from_onnx
    from ._train_export import export_onnx
    from ._train_seg import SegTrainConfig, init_heatmap_bias, train_segmentation

    r = task.recipe
    if init is not None:
        check_init(init, r)
    out.mkdir(parents=True, exist_ok=True)
    config = SegTrainConfig(
        epochs=epochs,
        lr=lr,
        seed=options.seed,
        threads=options.threads,
        device=options.device,
        dice_over_batch=r.dice_over_batch,
        keep=keep,
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
        "orstream_version": _version(),
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
        "keep": keep,
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
        licence=r.licence,
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
