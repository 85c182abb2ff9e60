"""The worst-case pictures of the model cards: one drawer (``save_panel``) for segmentation
(``worst_cases_panel``), the fluoroscopy tracker and the needle model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from orstream.kernels import load_backend
from orstream.sim import (
    MaskFolder,
    PanelCase,
    false_needle_cases,
    fluoro_worst_cases,
    needle_worst_cases,
    render_needle,
    save_panel,
    worst_cases_panel,
)

GREEN, RED = (0, 200, 0), (0, 0, 255)


def _has(image: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool((image == np.array(colour, np.uint8)).all(axis=-1).any())


def _square(size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1
    return mask


def test_save_panel_draws_a_grid_with_outlines_marks_and_zoom(tmp_path: Path) -> None:
    image = np.full((100, 200), 60, np.uint8)
    box = np.zeros((100, 200), np.uint8)
    box[10:40, 10:40] = 1
    plain = PanelCase(image, "a", outlines=((box, GREEN),))
    truth = np.zeros((100, 200), np.uint8)
    truth[20:50, 100:150] = 1
    zoomed = PanelCase(
        image.astype(np.uint16) * 100,  # 16-bit frames are stretched for display
        "b",
        outlines=((truth, RED),),
        marks=(((120.0, 30.0), GREEN),),
        zoom=(120.0, 30.0),
        zoom_px=32,
    )
    path = save_panel([plain, zoomed, plain], tmp_path / "sub" / "p.png", size=64, columns=2)
    assert Image.open(path).mode == "P"  # a palette PNG: grey levels and the overlay colours
    panel = cv2.imread(str(path))
    assert panel is not None
    tile_h = 64 + 18  # the caption strip
    assert panel.shape == (2 * tile_h, 2 * 2 * 64, 3)  # the zoomed case is two views wide
    assert _has(panel[:tile_h, :64], GREEN) and not _has(panel[:tile_h, :64], RED)
    zoom_view = panel[:64, 3 * 64 :]
    assert _has(zoom_view, GREEN) and _has(zoom_view, RED)  # the mark and outline, enlarged
    assert not panel[tile_h:, 64:].any()  # the grid's empty cell stays black
    with pytest.raises(ValueError, match="no cases"):
        save_panel([], tmp_path / "empty.png")


def test_worst_cases_panel_shows_the_lowest_scores_with_each_class(tmp_path: Path) -> None:
    images = tuple(np.full((64, 64), 40 * (i + 1), np.uint8) for i in range(3))
    truth = _square(64, (8, 8, 30, 30)) + 2 * _square(64, (36, 36, 60, 60))
    data = MaskFolder(("a", "b", "c"), images, (truth,) * 3)
    score = np.array([0.9, np.nan, 0.5])  # NaN counts as 0: b is the worst, then c
    colours = {1: (GREEN, RED), 2: ((255, 255, 0), (255, 0, 255))}
    path = worst_cases_panel(
        data, [truth] * 3, score, np.zeros(3), tmp_path / "w.png", n=2, colours=colours, size=64
    )
    panel = cv2.imread(str(path))
    assert panel is not None
    assert panel.shape[1] == 2 * 64
    # greys keep their level within the palette's step (128 levels), overlay colours exactly
    assert abs(int(panel[32, 32, 0]) - 80) <= 2 and abs(int(panel[32, 96, 0]) - 120) <= 2
    assert _has(panel, RED) and _has(panel, (255, 0, 255))  # each class, drawn last: predicted


def test_fluoro_cases_mark_the_true_and_the_tracked_tip() -> None:
    backend = load_backend("fluoro-catheter", "onnxruntime", threads=1)
    cases = fluoro_worst_cases(backend, [6_600_000, 6_600_001], n=1, frames=2)
    assert len(cases) == 1
    case = cases[0]
    assert case.image.shape == (1024, 1024) and case.zoom is not None
    assert [colour for _, colour in case.marks] == [GREEN, RED]
    assert case.caption.startswith("seed 66000") and "error" in case.caption
    assert case.zoom == case.marks[0][0]  # the crop is around the true tip


def test_needle_cases_are_the_worst_tips_and_the_most_confident_false_ones() -> None:
    backend = load_backend("us-needle", "onnxruntime", threads=1)
    data = render_needle("test", 3, frames_per_seed=2, rows=160, progress=None)
    worst = needle_worst_cases(backend, data, n=2)
    assert 1 <= len(worst) <= 2
    errors = [float(c.caption.split("tip error ")[1].split(" mm")[0]) for c in worst]
    assert errors == sorted(errors, reverse=True)
    rng = np.random.default_rng(1)
    blank = [(rng.random((120, 160)) * 80).astype(np.uint8) for _ in range(3)]
    false = false_needle_cases(backend, ["x", "y", "z"], blank, n=2)
    assert len(false) == 2 and all("(no needle)" in c.caption for c in false)
    confs = [float(c.caption.split("tip conf ")[1].split(",")[0]) for c in false]
    assert confs == sorted(confs, reverse=True)
