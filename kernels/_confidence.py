"""How far to trust one segmented structure: a confidence in [0, 1] from the model's own output.

Pure functions of the class probabilities (C, H, W) at the model's input size. The cues
(:func:`confidence_cues`), each in [0, 1], 1 = trustworthy:

- ``maxprob``: mean top-class probability over the predicted structure;
- ``soft_dice``: Dice between the structure's probability map and its hard mask,
  2 sum(p m) / (sum(p) + sum(m)); a model's own estimate of its Dice (low when much
  probability lies outside the mask or the mask is only just won);
- ``shape``: the share of the mask in its largest 8-connected component times that
  component's solidity (area / convex hull area): an LV cavity is one convex-ish blob;
- ``entropy``: 1 - mean normalised entropy over the mask dilated by a few pixels (its border);
- ``soft_dice_x_shape``: the product of those two.

:data:`CONFIDENCE_METHOD` (chosen by AUROC for frames with LV Dice < 0.8 on CAMUS val, see
docs/models/echo-lv-camus.md) is what :func:`structure_confidence` returns. No structure: 0.
:func:`segment_images_by_class` gives every foreground class its confidence
(:func:`image_confidence`: one for the whole mask).
:func:`auroc` measures how well any score ranks right frames above wrong ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ._backends import Backend
from ._backends_segment import _chunks, logits_to_mask, to_grey, to_model_input
from ._needle import needle_from_output

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

CONFIDENCE_CUES: Final = ("maxprob", "soft_dice", "shape", "entropy", "soft_dice_x_shape")
CONFIDENCE_METHOD: Final = "soft_dice"
"""The cue :func:`structure_confidence` returns (the best AUROC on CAMUS val)."""
_BORDER_PX: Final = 3


def class_probabilities(logits: npt.ArrayLike) -> F32:
    """Softmax over the class axis of (C, H, W) logits, float32."""
    z = np.asarray(logits, np.float32)
    z = np.exp(z - z.max(axis=0, keepdims=True))
    out: F32 = z / z.sum(axis=0, keepdims=True)
    return out


def shape_score(mask: npt.ArrayLike) -> float:
    """Largest-component share times its solidity, in [0, 1] (0 for an empty mask)."""
    m = np.ascontiguousarray(np.asarray(mask) != 0).view(np.uint8)
    total = int(m.sum())
    if total == 0:
        return 0.0
    _, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = int(stats[best, cv2.CC_STAT_AREA])
    outline, _ = cv2.findContours(
        (lab == best).view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    hull = cv2.convexHull(np.concatenate(outline))
    hull_area = float(cv2.contourArea(hull)) + 0.5 * float(cv2.arcLength(hull, True)) + 1.0
    solidity = min(1.0, area / hull_area)  # pixel centres: the hull grows by half a pixel
    return area / total * solidity


def confidence_cues(
    probs: npt.ArrayLike, cls: int, cues: tuple[str, ...] = CONFIDENCE_CUES
) -> dict[str, float]:
    """The ``cues`` (default: all of :data:`CONFIDENCE_CUES`) for class ``cls`` of ``probs``
    (C, H, W); all 0 when the arg-max has no pixel of ``cls``."""
    p = np.asarray(probs, np.float32)
    if p.ndim != 3 or not 0 <= cls < p.shape[0]:
        raise ValueError(f"need probabilities (C, H, W) with class {cls}; got {p.shape}")
    if unknown := set(cues) - set(CONFIDENCE_CUES):
        raise ValueError(f"unknown confidence cues {sorted(unknown)}; known {CONFIDENCE_CUES}")
    top = p.max(axis=0)
    pc = p[cls]
    mask = pc >= top
    if not mask.any():
        return dict.fromkeys(cues, 0.0)
    out: dict[str, float] = {}
    soft = float(2.0 * pc[mask].sum(dtype=np.float64) / (pc.sum(dtype=np.float64) + mask.sum()))
    if "maxprob" in cues:
        out["maxprob"] = float(top[mask].mean(dtype=np.float64))
    if "soft_dice" in cues:
        out["soft_dice"] = soft
    if "shape" in cues or "soft_dice_x_shape" in cues:
        shape = shape_score(mask)
        out |= {"shape": shape, "soft_dice_x_shape": soft * shape}
    if "entropy" in cues:
        kernel = np.ones((2 * _BORDER_PX + 1,) * 2, np.uint8)
        band = cv2.dilate(mask.view(np.uint8), kernel) != 0
        ent = -(p[:, band] * np.log(np.clip(p[:, band], 1e-12, 1.0))).sum(axis=0)
        out["entropy"] = float(1.0 - ent.mean() / math.log(p.shape[0]))
    return {k: out[k] for k in cues}


def structure_confidence(probs: npt.ArrayLike, cls: int, method: str = CONFIDENCE_METHOD) -> float:
    """Confidence in [0, 1] of class ``cls``'s segment in ``probs`` (C, H, W) by ``method``
    (one of :data:`CONFIDENCE_CUES`)."""
    if method not in CONFIDENCE_CUES:
        raise ValueError(f"unknown confidence method {method!r}; one of {CONFIDENCE_CUES}")
    return float(np.clip(confidence_cues(probs, cls, (method,))[method], 0.0, 1.0))


def segment_images_scored(
    backend: Backend,
    images: Iterable[npt.ArrayLike],
    cls: int,
    *,
    batch_size: int = 16,
    cues: bool = False,
) -> Iterator[tuple[U8, dict[str, float]]]:
    """(uint8 (H, W) class-index mask at the image's size, confidences) per image: the masks
    of ``segment_images``, and {"confidence": :func:`structure_confidence` of class ``cls``}
    (with ``cues`` also every cue of :func:`confidence_cues`), from the model-size output."""
    model = backend.model
    size = model.input_size
    greys = (to_grey(image) for image in images)
    for chunk in _chunks(greys, max(1, batch_size)):
        logits = backend.run(model.preprocess(np.stack([to_model_input(g, size) for g in chunk])))
        for item, grey in zip(logits[:, : model.n_classes], chunk, strict=True):
            probs = class_probabilities(item)
            if cues:
                every = confidence_cues(probs, cls)
                scores = {"confidence": every[CONFIDENCE_METHOD], **every}
            else:
                scores = {"confidence": structure_confidence(probs, cls)}
            yield logits_to_mask(item, (int(grey.shape[0]), int(grey.shape[1]))), scores


def segment_images_by_class(
    backend: Backend, images: Iterable[npt.ArrayLike], *, batch_size: int = 16
) -> Iterator[tuple[U8, dict[str, float]]]:
    """(uint8 (H, W) class-index mask at the image's size, {class name: confidence}) per image:
    the masks of ``segment_images`` (of ``detect_needles`` for a model with a tip heatmap) and
    :func:`structure_confidence` of every foreground class from the model-size output (0 for a
    class its arg-max does not show there)."""
    model = backend.model
    size = model.input_size
    names = model.class_names[1 : model.n_classes]
    greys = (to_grey(image) for image in images)
    for chunk in _chunks(greys, max(1, batch_size)):
        logits = backend.run(model.preprocess(np.stack([to_model_input(g, size) for g in chunk])))
        for out, grey in zip(logits, chunk, strict=True):
            item, shape = out[: model.n_classes], (int(grey.shape[0]), int(grey.shape[1]))
            probs = class_probabilities(item)
            scores = {name: structure_confidence(probs, c + 1) for c, name in enumerate(names)}
            if model.tip_channel is None:
                yield logits_to_mask(item, shape), scores
            else:  # a needle model: its mask as detect_needles gives it (specks dropped)
                yield needle_from_output(out, model, shape).mask, scores


def image_confidence(by_class: Mapping[str, float]) -> float:
    """One confidence for a whole multi-class mask: the mean of the confidences of the classes
    found (those above 0 in ``by_class``, as :func:`segment_images_by_class` gives them); nan
    when none is."""
    shown = [v for v in by_class.values() if v > 0]
    return float(np.mean(shown)) if shown else math.nan


def auroc(scores: npt.ArrayLike, positive: npt.ArrayLike) -> float:
    """Area under the ROC curve of ``scores`` for telling ``positive`` items (bool) from the
    rest: the chance a random positive outscores a random negative (ties count half). nan
    when either side is empty or a score is not finite."""
    s = np.asarray(scores, np.float64).ravel()
    pos = np.asarray(positive, bool).ravel()
    if s.shape != pos.shape:
        raise ValueError(f"{s.shape[0]} scores but {pos.shape[0]} labels")
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0 or not np.isfinite(s).all():
        return math.nan
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s), np.float64)
    ranks[order] = np.arange(1, len(s) + 1)
    for value in np.unique(s):  # average ranks of ties
        tied = s == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def confidence_report(
    confidence: npt.ArrayLike, dice: npt.ArrayLike, bad_below: float = 0.8
) -> dict[str, Any]:
    """AUROC of ``confidence`` for the frames whose ``dice`` is at least ``bad_below`` (right
    frames score higher), and how many frames are wrong."""
    d = np.nan_to_num(np.asarray(dice, np.float64), nan=0.0)
    right = d >= bad_below
    value = auroc(confidence, right)
    return {
        "auroc": None if math.isnan(value) else round(value, 4),
        "wrong_frames": int((~right).sum()),
        "frames": len(d),
        "wrong_means_dice_below": bad_below,
    }


def tip_confidence_report(
    confidence: npt.ArrayLike,
    error_mm: npt.ArrayLike,
    bad_above_mm: float = 3.0,
    gate: float = 0.5,
) -> dict[str, Any]:
    """How well a tip ``confidence`` per frame tells bad frames (``error_mm`` above
    ``bad_above_mm``, or not finite: no tip or a missed one) from the rest: the AUROC of
    ``1 - confidence`` for the bad frames (equal to that of ``confidence`` for the good ones),
    how many frames are bad, the median confidence of each side and the share of each side
    a gate at ``gate`` lets through (confidence >= ``gate``)."""
    c = np.asarray(confidence, np.float64).ravel()
    e = np.asarray(error_mm, np.float64).ravel()
    if c.shape != e.shape:
        raise ValueError(f"{c.shape[0]} confidences but {e.shape[0]} tip errors")
    bad = ~(np.isfinite(e) & (np.nan_to_num(e, nan=np.inf) <= bad_above_mm))
    value = auroc(1.0 - c, bad)

    def median(sel: npt.NDArray[np.bool_]) -> float | None:
        return round(float(np.median(c[sel])), 4) if sel.any() else None

    def passed(sel: npt.NDArray[np.bool_]) -> float | None:
        return round(float(np.mean(c[sel] >= gate)), 4) if sel.any() else None

    return {
        "auroc": None if math.isnan(value) else round(value, 4),
        "bad_frames": int(bad.sum()),
        "frames": len(c),
        "bad_means_error_above_mm": bad_above_mm,
        "confidence_median_good": median(~bad),
        "confidence_median_bad": median(bad),
        "gate": gate,
        "gate_passes_good": passed(~bad),
        "gate_passes_bad": passed(bad),
    }
