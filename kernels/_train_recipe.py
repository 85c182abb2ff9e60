"""What a trainable segmentation model is made of: its recipe, its settings, its data, its task.

A *recipe* (:class:`SegRecipe`) says how the network is built: input size, classes, the one
shared network configuration (:func:`unet`, each recipe stating only what differs), the input
normalisation (:func:`p99_normalization`). A *task* (:class:`SegTask`) adds where the data
come from (``training_data(options) -> TrainingData``) and how a trained model is scored
(``evaluate(spec, options) -> dict``, a JSON report); the tasks of the shipped models live in
``orstream.sim`` (``training_task``). :func:`~._train_fit.fit_and_export` trains one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._models import ModelSpec


def unet(base_channels: int = 12, *, res_units: int = 2, norm: str = "batch") -> dict[str, Any]:
    """The network every shipped segmentation model uses: a MONAI UNet of five levels,
    ``base_channels`` x (1, 2, 4, 8, 16) feature maps, stride 2 between levels,
    ``res_units`` residual units per level and ``norm`` ("batch" or "instance"), as the
    ``architecture`` mapping of a model's sidecar."""
    return {
        "network": "UNet",
        "args": {
            "channels": [base_channels * 2**level for level in range(5)],
            "strides": [2, 2, 2, 2],
            "num_res_units": res_units,
            "norm": norm,
        },
    }


def p99_normalization(clip: float = 2.0, floor: float = 8.0) -> dict[str, Any]:
    """Each image divided by its own 99th percentile (at least ``floor`` grey levels), clipped
    to [0, ``clip``]: the ``normalization`` mapping of a model's sidecar."""
    return {"kind": "p99", "floor": floor, "clip": clip}


@dataclass(frozen=True)
class SegRecipe:
    """How a model is built: input size (H, W) px, class names (index 0 "background"), a
    one-line description for its sidecar, MONAI ``architecture`` (default :func:`unet`),
    ``normalization`` (default :func:`p99_normalization`), whether it has a tip heatmap
    channel after the class logits, and its input channels."""

    name: str
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    description: str
    architecture: dict[str, Any] = field(default_factory=unet)
    normalization: dict[str, Any] = field(default_factory=p99_normalization)
    tip_heatmap: bool = False
    in_channels: int = 1
    dice_over_batch: bool = False
    """Pool the Dice loss over the batch, foreground only (see ``SegTrainConfig``)."""
    licence: str = ""
    """The trained weights' licence when the data impose one (the sidecar's ``licence``)."""

    @property
    def out_channels(self) -> int:
        """K class logits, plus one heatmap channel for a tip model."""
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
    low_dose: float = 0.0
    """fluoro-catheter: share of training runs rendered at ``LOW_DOSE_RANGE`` photons/px,
    below the simulator's drawn range (0: none)."""
    fold: int = 0
    """us-nerve-vessel: the cross-validation fold held out for validation and scoring (0: the
    fixed validation split)."""
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


@dataclass(frozen=True)
class SegTask:
    """A trainable model: its ``recipe``, ``training_data(options)`` and ``evaluate(spec,
    options)`` (the JSON report on data the training never saw)."""

    recipe: SegRecipe
    training_data: Callable[[TrainOptions], TrainingData]
    evaluate: Callable[[ModelSpec, TrainOptions], dict[str, Any]]
