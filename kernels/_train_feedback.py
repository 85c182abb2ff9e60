"""Fine-tune a shipped segmentation model on clinicians' corrections, with a replay buffer.

The weights start from the model's ONNX file (the exporter keeps every state-dict entry as an
initializer under its torch name, so :func:`~._backends_torch.network_from_onnx` rebuilds the
exact network; the rebuilt torch network is checked against ONNX Runtime on a feedback image).
Each epoch alternates batches of feedback pairs (each pair ``repeats`` times, augmented afresh
with the model's own training augmentation) with as many batches from the replay data (frames
of the model's own training task, so it does not forget), and is trained by the project's own
loop (:func:`~._train_seg.train_segmentation`) at a small learning rate. Validation, which
picks the best epoch, is the feedback pairs un-augmented plus the replay task's validation
frames. The result is exported as ONNX with a sidecar whose ``training`` section records
what it was fine-tuned on. Needs torch and MONAI (``orstream[train]``).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, TextIO

import numpy as np
import numpy.typing as npt

from ._batching import Augment, Batch, batches, fixed_batches
from ._models import ModelSpec, load_model, write_sidecar
from ._train_recipe import TrainingData

_FEEDBACK_STREAM: Final = 0xFEED
"""The feedback batches' number in the seed of each epoch's shuffle and augmentation."""
INIT_TOLERANCE: Final = 1e-3
"""Max abs logit difference allowed between the rebuilt torch network and ONNX Runtime."""


@dataclass(frozen=True)
class FeedbackTuneConfig:
    """Fine-tuning settings: ``epochs``; ``lr`` peak AdamW learning rate (a tenth of the
    shipped models' 2e-3 by default), warm-up over the first tenth of the steps then cosine;
    ``batch_size``; ``repeats``: augmented copies of each feedback pair per epoch (the replay
    gives as many batches again); ``seed``; ``threads``; ``device`` (torch)."""

    epochs: int = 8
    lr: float = 2e-4
    batch_size: int = 16
    repeats: int = 4
    seed: int = 0
    threads: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size, self.repeats, self.threads) < 1 or not (
            self.lr > 0 and math.isfinite(self.lr)
        ):
            raise ValueError(f"bad fine-tuning settings {self}: counts and lr must be positive")


def init_difference(network: Any, model: ModelSpec, x: npt.NDArray[np.float32]) -> float:
    """Max abs difference between ``network``'s logits (torch) and ONNX Runtime's on the
    float32 (N, C, H, W) input ``x``, for the model's ONNX file."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(model.onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {model.input_name: x})[0]
    was_training = network.training
    network.eval()
    with torch.inference_mode():
        want = network(torch.from_numpy(x)).numpy()
    network.train(was_training)
    return float(np.max(np.abs(got - want)))


def _mixed(
    feedback: Callable[[int], Iterator[Batch]],
    replay: Callable[[int], Any],
    per_source: int,
) -> Callable[[int], Iterator[Batch]]:
    """``epoch -> batches``: ``per_source`` feedback batches, each followed by a replay batch
    (while the replay has batches)."""

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        replayed = iter(replay(epoch))
        for taken, batch in enumerate(feedback(epoch)):
            if taken >= per_source:
                break
            yield batch
            extra = next(replayed, None)
            if extra is not None:
                yield extra
        close = getattr(replayed, "close", None)
        if close is not None:
            close()

    return epoch_batches


def _dice_json(dice: list[float], names: tuple[str, ...]) -> dict[str, float | None]:
    return {n: None if math.isnan(d) else round(d, 4) for n, d in zip(names[1:], dice, strict=True)}


def feedback_card(name: str, training: dict[str, Any]) -> str:
    """The model card section (Markdown) of a model fine-tuned from feedback: what it was
    fine-tuned on (folder, items, verdicts, skipped), from what (base model and hash), how
    (command, seed, settings, replay) and the Dice before and after, from ``training`` (the
    sidecar's section :func:`finetune_segmentation` writes)."""
    fb, replay, tune = training["feedback"], training["replay"], training["fine_tune"]
    verdicts = ", ".join(f"{k} {v}" for k, v in fb["verdicts"].items())
    lines = [
        f"## Fine-tuned from clinician feedback: {name}",
        "",
        f"- Feedback folder: `{fb['folder']}`: {fb['items']} valid item(s) ({verdicts}); "
        f"{fb['pairs']} image+mask pair(s) trained on (redraw, accept); reject and move_tip "
        f"items counted only; {fb['skipped']} malformed or other-model item(s) skipped.",
        f"- Base model: {training['init']['model']}, sha256 `{training['init']['sha256']}` "
        f"(torch rebuilt from its ONNX agrees to {training['init']['torch_vs_onnx_max_abs']:.1e}).",
        f"- Command: `{training['command']}`; seed {training['seed']}.",
        f"- Settings: {tune['epochs']} epoch(s), AdamW peak lr {tune['lr']:g}, batch "
        f"{tune['batch_size']}, each pair {tune['repeats']}x per epoch augmented by "
        f"{fb['augmentation'] or 'nothing'}; best epoch {training['best_epoch']}.",
        f"- Replay: {replay['frames_per_epoch']} of {replay.get('train_frames', '?')} frames of "
        f"the model's own training task per epoch ({replay['mix']}).",
        "",
        "| Dice (class) | on | before | after |",
        "|---|---|---|---|",
    ]
    for part in ("feedback", "replay_val"):
        for cls, before in training["dice_before"][part].items():
            after = training["dice_after"][part][cls]
            lines.append(f"| {cls} | {part} | {before} | {after} |")
    return "\n".join(lines) + "\n"


def finetune_segmentation(
    base: ModelSpec,
    images: npt.NDArray[np.uint8],
    masks: npt.NDArray[np.uint8],
    replay: TrainingData,
    *,
    out: Path,
    provenance: dict[str, Any],
    command: str,
    config: FeedbackTuneConfig | None = None,
    augment: Augment | None = None,
    dice_over_batch: bool = False,
    progress: TextIO | None = sys.stderr,
) -> dict[str, Any]:
    """Fine-tune ``base`` on feedback ``images`` uint8 (N, H, W) and ``masks`` uint8
    (N, H, W) class indices, both at the model input, mixed 1:1 by batch with ``replay`` (its
    training task's data); export ``out/NAME.onnx`` with its sidecar, ``out/report.json`` and
    the model card section ``out/NAME.md`` (:func:`feedback_card`), and return the report.
    ``provenance``: the feedback section of the model card (folder, counts); ``command``:
    the command line it cites; ``augment``: the model's training augmentation for the
    feedback pairs (None: as they are). ValueError for pairs at the wrong size or classes
    beyond the model's; RuntimeError when the torch network rebuilt from the ONNX file
    disagrees with ONNX Runtime."""
    import torch

    from ._backends_torch import network_from_onnx
    from ._train_export import export_onnx
    from ._train_seg import SegTrainConfig, train_segmentation, validate

    cfg = config or FeedbackTuneConfig()
    if images.ndim != 3 or images.shape != masks.shape or images.shape[1:] != base.input_size:
        raise ValueError(
            f"feedback pairs are {images.shape} / {masks.shape}; {base.name} takes "
            f"(N, {base.input_size[0]}, {base.input_size[1]})"
        )
    if len(images) and int(masks.max()) >= base.n_classes:
        raise ValueError(f"a feedback mask holds a class beyond {base.name}'s {base.n_classes}")
    torch.set_num_threads(cfg.threads)
    network = network_from_onnx(base)
    norm = base.normalization
    diff = init_difference(network, base, fixed_batches(images[:2], masks[:2], norm)[0][0])
    if not diff <= INIT_TOLERANCE:
        raise RuntimeError(f"{base.name}: torch rebuilt from ONNX differs by {diff:.2e}")
    per_source = -(-len(images) * cfg.repeats // cfg.batch_size)
    feedback = batches(
        images,
        masks,
        norm,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        stream=_FEEDBACK_STREAM,
        augment=augment,
        samples=per_source * cfg.batch_size,
    )
    steps = per_source + min(per_source, replay.train_frames // cfg.batch_size)
    fb_val = fixed_batches(images, masks, norm)
    names = base.class_names
    before = {
        "feedback": _dice_json(validate(network, fb_val, base.n_classes)[0], names),
        "replay_val": _dice_json(validate(network, replay.val, base.n_classes)[0], names),
    }
    train_config = SegTrainConfig(
        epochs=cfg.epochs,
        lr=cfg.lr,
        warmup_steps=max(1, cfg.epochs * steps // 10),
        seed=cfg.seed,
        threads=cfg.threads,
        device=cfg.device,
        dice_over_batch=dice_over_batch,
    )
    t0 = time.perf_counter()
    result = train_segmentation(
        network.train(),
        _mixed(feedback, replay.train, per_source),
        [*fb_val, *replay.val],
        n_classes=base.n_classes,
        steps_per_epoch=steps,
        config=train_config,
        progress=progress,
    )
    train_s = time.perf_counter() - t0
    after = {
        "feedback": _dice_json(validate(result.network, fb_val, base.n_classes)[0], names),
        "replay_val": _dice_json(validate(result.network, replay.val, base.n_classes)[0], names),
    }
    onnx_path = out / f"{base.name}.onnx"
    export_diff = export_onnx(
        result.network, onnx_path, base.input_size, in_channels=base.in_channels
    )
    training = {
        "command": command,
        "seed": cfg.seed,
        "init": {"model": base.name, "sha256": base.sha256, "torch_vs_onnx_max_abs": diff},
        "feedback": {
            **provenance,
            "pairs": len(images),
            "repeats_per_epoch": cfg.repeats,
            "augmentation": getattr(augment, "__qualname__", None),
        },
        "replay": {
            **replay.doc,
            "frames_per_epoch": min(per_source, replay.train_frames // cfg.batch_size)
            * cfg.batch_size,
            "mix": "feedback and replay batches alternate 1:1",
        },
        "fine_tune": {**asdict(cfg), "warmup_steps": train_config.warmup_steps},
        "validation": "feedback pairs (un-augmented, also trained on) + replay val frames",
        "best_epoch": result.best_epoch,
        "dice_before": before,
        "dice_after": after,
        "export_max_abs_diff": export_diff,
        "base_training": base.training,
    }
    spec = ModelSpec(
        name=base.name,
        onnx_path=onnx_path,
        input_size=base.input_size,
        in_channels=base.in_channels,
        class_names=base.class_names,
        normalization=base.normalization,
        architecture=base.architecture,
        sha256="",
        opset=base.opset,
        training=training,
        description=f"{base.description}; fine-tuned on clinician feedback",
        tip_channel=base.tip_channel,
    )
    write_sidecar(spec)
    load_model(onnx_path)  # the written model reads back and its hash checks
    report = {
        "model": base.name,
        "onnx": str(onnx_path),
        "training": training,
        "train_s": round(train_s, 1),
        "history": result.history_json(),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{base.name}.md").write_text(feedback_card(base.name, training))
    return report
