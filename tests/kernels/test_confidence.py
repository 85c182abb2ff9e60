"""The per-structure confidence (cues from the model's probabilities) and its AUROC."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from orstream.kernels import (
    CONFIDENCE_CUES,
    auroc,
    class_probabilities,
    confidence_cues,
    confidence_report,
    shape_score,
    structure_confidence,
)


def test_auroc_counts_pairs_ranked_right_and_ties_as_half() -> None:
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5, 0.5], [True, False, True]) == 0.5
    assert auroc([0.9, 0.3, 0.5, 0.1], [True, False, True, False]) == 1.0
    assert auroc([0.9, 0.6, 0.5, 0.1], [True, False, True, False]) == 0.75
    assert math.isnan(auroc([0.3, 0.4], [True, True]))
    report = confidence_report([0.9, 0.2, 0.8], [0.95, 0.5, np.nan])
    assert report["auroc"] == 1.0 and report["wrong_frames"] == 2  # nan Dice counts as wrong


def _blob(shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.ellipse(out, (32, 32), (12, 20), 0, 0, 360, 1, -1)
    return out


def test_shape_score_is_high_for_one_convex_blob_and_low_for_pieces() -> None:
    blob = _blob()
    assert shape_score(blob) > 0.9
    pieces = blob.copy()
    pieces[:, 30:34] = 0  # cut in two halves
    assert shape_score(pieces) < 0.6
    ring = blob.copy()
    ring[26:38, 20:56] = 0  # a bite out of it: no longer convex
    assert shape_score(ring) < shape_score(blob)
    assert shape_score(np.zeros((8, 8), np.uint8)) == 0.0


def _logits(blob: np.ndarray, margin: float, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, noise, (3, *blob.shape)).astype(np.float32)
    z[1] += margin * (2.0 * blob - 1.0)
    return z


def test_a_clean_confident_segment_outscores_a_diffuse_fragmented_one() -> None:
    blob = _blob()
    good = class_probabilities(_logits(blob, 6.0, 0.3))
    bad = class_probabilities(_logits(blob, 0.4, 1.5))
    cues_good, cues_bad = confidence_cues(good, 1), confidence_cues(bad, 1)
    assert set(cues_good) == set(CONFIDENCE_CUES)
    for cue in CONFIDENCE_CUES:
        assert 0.0 <= cues_bad[cue] < cues_good[cue] <= 1.0, cue
    assert structure_confidence(good, 1) == pytest.approx(cues_good["soft_dice"])
    absent = _logits(blob, 6.0, 0.3)
    absent[2] -= 20.0  # class 2 never wins: no segment, no confidence
    assert structure_confidence(class_probabilities(absent), 2) == 0.0
    with pytest.raises(ValueError, match="unknown confidence"):
        structure_confidence(good, 1, "vibes")
