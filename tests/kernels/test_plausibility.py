"""Anatomical plausibility checks: one walled LV that stops at the mitral plane; a needle is a
line with its tip at one end. Synthetic, hostile masks and a few real CAMUS val images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from orstream.kernels import (
    LV_CHECKS,
    NEEDLE_CHECKS,
    Plausibility,
    load_backend,
    lv_plausibility,
    lv_shape_figures,
    needle_plausibility,
    segment_images_scored,
)
from orstream.sim import load_camus

LABELS = ("background", "lv_cavity", "lv_myocardium", "rv", "la", "ra")
LV, MYO, RV, LA = 1, 2, 3, 4
U8 = npt.NDArray[np.uint8]


def heart(size: int = 160) -> U8:
    """An apical view, apex up: an LV ellipse walled by myocardium except at its base, the
    LA below the base."""
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, (80, 70), (34, 58), 0, 0, 360, MYO, -1)
    cv2.ellipse(m, (80, 70), (26, 50), 0, 0, 360, LV, -1)
    m[118:, :] = 0  # the base: no wall below the mitral plane
    la = np.zeros_like(m)
    cv2.ellipse(la, (80, 138), (28, 20), 0, 0, 360, 1, -1)
    m[(la != 0) & (m == 0)] = LA
    return m


def needle_mask(
    p0: tuple[int, int], p1: tuple[int, int], shape: tuple[int, int] = (160, 213)
) -> U8:
    m = np.zeros(shape, np.uint8)
    cv2.line(m, p0, p1, 1, 2)
    return m


def test_a_walled_lv_above_its_atrium_passes_every_check() -> None:
    verdict = lv_plausibility(heart(), LABELS)
    assert verdict == Plausibility(True, (), LV_CHECKS)
    assert verdict.to_json() == {"plausible": True, "implausible": [], "checks": list(LV_CHECKS)}


def test_no_lv_is_not_one_lv() -> None:
    m = heart()
    m[m == LV] = 0
    assert lv_plausibility(m, LABELS).failed == ("one_lv",)
    m[60:62, 80:82] = LV  # a 4-pixel "cavity" is not an LV either
    assert "one_lv" in lv_plausibility(m, LABELS).failed


def test_two_lv_blobs_fail_one_lv() -> None:
    m = heart()
    cv2.circle(m, (140, 30), 8, LV, -1)
    verdict = lv_plausibility(m, LABELS)
    assert not verdict.ok and "one_lv" in verdict.failed


def test_an_lv_leaking_through_the_mitral_plane_into_the_atrium_fails() -> None:
    m = heart()
    cv2.ellipse(m, (80, 128), (16, 16), 0, 0, 360, LV, -1)  # the cavity goes on into the LA
    verdict = lv_plausibility(m, LABELS)
    assert "mitral_plane" in verdict.failed


def test_an_atrium_beside_the_lv_fails_the_mitral_plane() -> None:
    m = heart()
    cv2.ellipse(m, (122, 60), (8, 30), 0, 0, 360, LA, -1)  # LA pixels along the lateral wall
    assert "mitral_plane" in lv_plausibility(m, LABELS).failed


def test_an_lv_open_to_the_right_ventricle_fails_the_septum_check() -> None:
    m = heart()
    side = m[:, :80]
    side[side == MYO] = RV  # no septum: the left half of the wall is right ventricle
    verdict = lv_plausibility(m, LABELS)
    assert verdict.failed == ("septum",)
    assert lv_shape_figures(m, LABELS)["walled"] < 0.7


def test_a_c_shaped_lv_is_not_solid() -> None:
    m = np.zeros((160, 160), np.uint8)
    cv2.ellipse(m, (80, 80), (50, 50), 0, 40, 320, LV, 14)
    verdict = lv_plausibility(m, ("background", "lv_cavity"))
    assert verdict.failed == ("solid",) and verdict.checked == ("one_lv", "solid")


def test_checks_without_their_class_are_skipped_not_failed() -> None:
    m = heart()
    m[m == LA] = 0
    m[m == MYO] = 0
    assert lv_plausibility(m, ("background", "lv_cavity")) == Plausibility(
        True, (), ("one_lv", "solid")
    )
    no_la_in_frame = lv_plausibility(m, LABELS)  # an la class, but no LA pixels: not run
    assert "mitral_plane" not in no_la_in_frame.checked and "septum" in no_la_in_frame.failed


def test_any_dtype_and_memory_layout_gives_the_same_verdict() -> None:
    m = heart()
    ref = lv_plausibility(m, LABELS)
    flipped = np.fliplr(np.fliplr(m))  # a negative-stride view
    assert lv_plausibility(flipped, LABELS) == ref
    assert lv_plausibility(np.asfortranarray(m.astype(np.int64)), LABELS) == ref
    assert lv_plausibility(m.astype(np.uint16)[:, :], LABELS) == ref
    wide = np.zeros((160, 320), np.uint8)
    wide[:, ::2] = m  # a strided, non-contiguous slice
    assert lv_plausibility(wide[:, ::2], LABELS) == ref
    with pytest.raises(ValueError):
        lv_plausibility(m[None], LABELS)
    with pytest.raises(ValueError):
        lv_plausibility(np.zeros((0, 4), np.uint8), LABELS)
    with pytest.raises(ValueError):
        lv_plausibility(m, ("background", "myocardium"))


def test_a_straight_needle_with_its_tip_at_the_end_is_plausible() -> None:
    m = needle_mask((10, 20), (120, 90))
    verdict = needle_plausibility(m, (120.0, 90.0))
    assert verdict == Plausibility(True, (), NEEDLE_CHECKS)
    assert needle_plausibility(m, None).checked == NEEDLE_CHECKS[:3]  # no tip: no tip check
    assert needle_plausibility(m.astype(bool).T.copy().T, (120.0, 90.0)) == verdict


def test_an_empty_needle_mask_is_no_needle_not_an_implausible_one() -> None:
    verdict = needle_plausibility(np.zeros((160, 213), np.uint8), (50.0, 50.0))
    assert verdict.ok and verdict.checked == ()


def test_a_tip_in_the_middle_or_off_the_line_fails() -> None:
    m = needle_mask((10, 20), (120, 90))
    assert needle_plausibility(m, (65.0, 55.0)).failed == ("tip_at_end",)
    assert needle_plausibility(m, (40.0, 120.0)).failed == ("tip_at_end",)


def test_a_disc_a_thick_blob_an_arc_and_two_needles_are_not_a_needle() -> None:
    disc = np.zeros((160, 213), np.uint8)
    cv2.circle(disc, (100, 80), 12, 1, -1)
    assert "line" in needle_plausibility(disc).failed
    blob = np.zeros((160, 213), np.uint8)
    cv2.rectangle(blob, (40, 60), (140, 76), 1, -1)  # 100 x 17 px: elongated but thick
    assert needle_plausibility(blob).failed == ("thin",)
    arc = np.zeros((160, 213), np.uint8)
    cv2.ellipse(arc, (106, 80), (60, 60), 0, 180, 360, 1, 2)
    assert "thin" in needle_plausibility(arc).failed
    two = needle_mask((10, 20), (120, 90)) | needle_mask((60, 150), (200, 140))
    assert "one_needle" in needle_plausibility(two).failed
    speck = np.zeros((160, 213), np.uint8)
    speck[50:53, 70:73] = 1
    assert "line" in needle_plausibility(speck, (71.0, 51.0)).failed
    with pytest.raises(ValueError):
        needle_plausibility(np.zeros((2, 3, 4), np.uint8))


def test_most_real_camus_val_frames_are_plausible(real_data: Path) -> None:
    val = load_camus("val", real_data)
    backend = load_backend("echo-lv-camus", "onnxruntime", threads=1)
    labels = backend.model.class_names
    picks = list(range(0, len(val), 25))  # 8 images, both views and phases
    verdicts = [
        lv_plausibility(mask, labels)
        for mask, _ in segment_images_scored(backend, [val.images[i] for i in picks], 1)
    ]
    assert all(v.checked == LV_CHECKS for v in verdicts)
    assert sum(v.ok for v in verdicts) >= 6
    truths = [lv_plausibility(val.labels[i], LABELS) for i in picks]
    assert all(v.ok for v in truths)  # expert masks pass
