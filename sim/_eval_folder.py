"""Scoring a segmentation model on a folder of images and class-index masks (``eval seg --data``).

Each image goes through ``segment_images``' path at its own size (letterbox, resize, run,
logits back, arg-max); per image: Dice of each foreground class and the confidence of the
structure of interest (``orstream.kernels.segment_images_scored``, class ``cls``, default the
first foreground class), and over the folder the confidence's AUROC for telling images with
that class's Dice >= 0.8 from the rest (the confidence should rank wrong images lower).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..kernels import (
    CONFIDENCE_CUES,
    CONFIDENCE_METHOD,
    Backend,
    confidence_report,
    dice_scores,
    segment_images_scored,
    summary_stats,
)
from ._dataset_camus import MaskFolder

U8 = npt.NDArray[np.uint8]
BAD_DICE: Final = 0.8
"""An image whose structure Dice is below this counts as wrong for the confidence AUROC."""


def predict_folder(
    backend: Backend, images: tuple[U8, ...] | list[U8], cls: int
) -> tuple[list[U8], dict[str, npt.NDArray[np.float64]]]:
    """(masks at each image's size, {cue: (N,) confidences}) of ``backend`` on ``images``:
    "confidence" and every cue of ``CONFIDENCE_CUES`` for class ``cls``."""
    masks: list[U8] = []
    cues: dict[str, list[float]] = {}
    for mask, scores in segment_images_scored(backend, images, cls, batch_size=16, cues=True):
        masks.append(mask)
        for k, v in scores.items():
            cues.setdefault(k, []).append(v)
    return masks, {k: np.asarray(v, np.float64) for k, v in cues.items()}


def score_folder(
    backend: Backend, data: MaskFolder, cls: int = 1
) -> tuple[dict[str, Any], list[U8], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(report, masks, Dice (N, K-1), confidence (N,)) of ``backend`` on ``data``: Dice per
    class (summary over images where truth or prediction has it; a class no truth mask has is
    listed in "classes_not_in_truth", not scored), per image, and the confidence AUROC of
    class ``cls`` (the chosen method and every cue beside it)."""
    if not 1 <= cls < backend.model.n_classes:
        raise ValueError(f"confidence class {cls} is not a foreground class of the model")
    masks, cues = predict_folder(backend, data.images, cls)
    dice = np.concatenate(
        [
            dice_scores(m, t, backend.model.n_classes)
            for m, t in zip(masks, data.labels, strict=True)
        ]
    )
    names = backend.model.class_names[1:]
    labelled = {int(v) for t in data.labels for v in np.unique(t)}
    structure = dice[:, cls - 1]
    conf = cues["confidence"]
    report: dict[str, Any] = {
        "frames": len(data),
        "dice": {
            name: summary_stats(dice[:, c]) for c, name in enumerate(names) if c + 1 in labelled
        },
        "classes_not_in_truth": [n for c, n in enumerate(names) if c + 1 not in labelled],
        "confidence": {
            "class": backend.model.class_names[cls],
            "method": CONFIDENCE_METHOD,
            **confidence_report(conf, structure, BAD_DICE),
            "below_0.9": confidence_report(conf, structure, 0.9),
            "auroc_by_cue": {
                cue: confidence_report(cues[cue], structure, BAD_DICE)["auroc"]
                for cue in CONFIDENCE_CUES
            },
            "mean_right": _mean(conf[np.nan_to_num(structure) >= BAD_DICE]),
            "mean_wrong": _mean(conf[np.nan_to_num(structure) < BAD_DICE]),
        },
        "per_image": [
            {
                "name": name,
                "dice": {
                    n: None if np.isnan(dice[i, c]) else round(float(dice[i, c]), 4)
                    for c, n in enumerate(names)
                },
                "confidence": round(float(conf[i]), 4),
            }
            for i, name in enumerate(data.names)
        ],
    }
    return report, masks, dice, conf


def _mean(values: npt.NDArray[np.float64]) -> float | None:
    return round(float(values.mean()), 4) if len(values) else None
