"""``train seg --feedback DIR``: fine-tune a shipped model from a clinician feedback folder.

Composes the parts: the feedback folder reader (``orstream.kernels.read_feedback``), the
model's own training task in the simulator for the replay buffer and its augmentation
(``orstream.sim.training_task``), and the fine-tuning loop with export and model card
(``orstream.kernels.finetune_segmentation``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from ..kernels import (
    FeedbackTuneConfig,
    TrainOptions,
    feedback_pairs,
    finetune_segmentation,
    load_model,
    read_feedback,
)
from ..sim import augment_echo, augment_usgra, training_task

FEEDBACK_AUGMENT: Final[Mapping[str, Callable[..., Any]]] = {
    "echo-lv": augment_echo,
    "us-nerve-vessel": augment_usgra,
}
"""The training augmentation applied to feedback pairs, per model (image, labels, rng). Models
not named here (the tip models, whose augmentation also moves a tip) take their feedback pairs
un-augmented; their replay frames are augmented by their task as in training."""
REPLAY_FRAMES: Final = 256
"""Simulator frames of the model's own training task rendered as the replay buffer."""
REPLAY_VAL_FRAMES: Final = 64
"""Simulator validation frames: the forgetting check, and half of what picks the best epoch."""


def finetune_from_feedback(
    model: str | Path,
    feedback: Path,
    *,
    out: Path | None = None,
    config: FeedbackTuneConfig | None = None,
    replay_frames: int = REPLAY_FRAMES,
    replay_val_frames: int = REPLAY_VAL_FRAMES,
    workers: int = 1,
    command: str = "",
    progress: TextIO | None = sys.stderr,
) -> dict[str, Any]:
    """Fine-tune ``model`` (a shipped name or PATH.onnx with a training task) on the
    ``redraw`` and ``accept`` items of the feedback folder ``feedback``, with
    ``replay_frames`` frames of the model's own simulator task mixed in; write
    ``out/NAME.onnx``, its sidecar and ``out/report.json`` (default ``runs/NAME-feedback``).

    Returns the report; its ``training.feedback`` records the folder, item and verdict
    counts and the skipped items. ValueError (one line) for an unknown model, a folder with
    nothing to learn from, or bad settings; FileNotFoundError for a missing folder."""
    cfg = config or FeedbackTuneConfig()
    if replay_frames < 1 or replay_val_frames < 1:
        raise ValueError("replay_frames and replay_val_frames must be >= 1")
    base = load_model(model)
    task = training_task(base.name)
    found = read_feedback(feedback, model=base.name, n_classes=base.n_classes)
    summary = found.summary()
    if not found.trainable:
        raise ValueError(
            f"feedback {feedback}: no redraw or accept item for {base.name} to learn from "
            f"({summary['items']} valid item(s), {summary['skipped']} skipped)"
        )
    images, masks = feedback_pairs(found.trainable, base.input_size)
    replay = task.training_data(
        TrainOptions(
            samples=replay_frames,
            val_samples=replay_val_frames,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            workers=workers,
            progress=progress,
        )
    )
    target = out if out is not None else Path("runs") / f"{base.name}-feedback"
    target.mkdir(parents=True, exist_ok=True)
    provenance = {"folder": str(feedback.resolve()), **summary}
    return finetune_segmentation(
        base,
        images,
        masks,
        replay,
        out=target,
        provenance=provenance,
        command=command,
        config=cfg,
        augment=FEEDBACK_AUGMENT.get(base.name),
        dice_over_batch=task.recipe.dice_over_batch,
        progress=progress,
    )
