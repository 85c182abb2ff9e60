"""Scanner-border augmentation: labels stay on the image, the border is background, text and
scale marks stay out of the image, and the same generator state gives the same output."""

from __future__ import annotations

import numpy as np
import pytest

from orstream.kernels import scanner_border


def _scene(h: int = 96, w: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A lit image (grey noise 30-90) with a bright 1 px horizontal needle line and a
    bright block, labelled 1 and 2; the rest background."""
    rng = np.random.default_rng(5)
    image = rng.integers(30, 90, (h, w)).astype(np.uint8)
    labels = np.zeros((h, w), np.uint8)
    image[40, 10:90] = 250
    labels[40, 10:90] = 1
    image[60:75, 100:120] = 220
    labels[60:75, 100:120] = 2
    return image, labels


def _content_box(m: np.ndarray, h: int, w: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) output px of the input's corners under ``m`` (pixel edges)."""
    x0 = m[0, 0] * -0.5 + m[0, 2] + 0.5
    y0 = m[1, 1] * -0.5 + m[1, 2] + 0.5
    x1 = m[0, 0] * (w - 0.5) + m[0, 2] + 0.5
    y1 = m[1, 1] * (h - 0.5) + m[1, 2] + 0.5
    return round(x0), round(y0), round(x1), round(y1)


@pytest.mark.parametrize("seed", range(8))
def test_labels_follow_the_image_and_the_border_is_background(seed: int) -> None:
    image, labels = _scene()
    out, lab, m = scanner_border(image, labels, np.random.default_rng(seed))
    assert out.shape == lab.shape == image.shape and out.dtype == lab.dtype == np.uint8
    x0, y0, x1, y1 = _content_box(m, *image.shape)
    inside = np.zeros(out.shape, bool)
    inside[y0:y1, x0:x1] = True
    assert not lab[~inside].any(), "a labelled pixel outside the placed image"
    # every class survives, and sits on its own bright pixels
    assert (lab == 1).sum() > 0 and (lab == 2).sum() > 0
    assert out[lab == 1].mean() > 150 and out[lab == 2].mean() > 150
    assert out[inside & (lab == 0)].mean() < 120
    # a point maps through m onto the same structure: the line's middle, the block's centre
    for (x, y), cls in (((50.0, 40.0), 1), ((109.5, 67.0), 2)):
        px, py = m @ np.array([x, y, 1.0])
        assert lab[round(py), round(px)] == cls
    # the image is scaled, not stretched
    assert m[0, 0] == pytest.approx(m[1, 1], rel=0.06)


def test_text_and_scale_marks_are_drawn_in_the_border_and_never_on_the_image() -> None:
    image, labels = _scene()
    drawn = 0
    for seed in range(12):
        out, _, m = scanner_border(image, labels, np.random.default_rng(seed))
        x0, y0, x1, y1 = _content_box(m, *image.shape)
        border = np.ones(out.shape, bool)
        border[y0:y1, x0:x1] = False
        drawn += int((out[border] > 100).sum() > 5)
        # the placed image is the input resized, untouched by the overlay
        again, _, _ = scanner_border(image, labels, np.random.default_rng(seed))
        assert np.array_equal(out, again)
        assert out[y0:y1, x0:x1].max() <= image.max()
    assert drawn >= 9, f"text or a scale in the border of only {drawn} of 12 frames"


def test_letterbox_bands_of_a_wide_frame_stay_black() -> None:
    """A square canvas holding a 1.6:1 frame: the bands above and below the frame are 0."""
    image, labels = _scene(128, 128)
    out, lab, _ = scanner_border(image, labels, np.random.default_rng(3), frame_aspect=(1.6, 1.6))
    band = round((128 - 128 / 1.6) / 2) - 1
    assert not out[:band].any() and not out[-band:].any()
    assert not lab[:band].any() and not lab[-band:].any()


def test_same_generator_state_same_output_and_other_seeds_differ() -> None:
    image, labels = _scene()
    a = scanner_border(image, labels, np.random.default_rng(42))
    b = scanner_border(image, labels, np.random.default_rng(42))
    c = scanner_border(image, labels, np.random.default_rng(43))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_a_larger_canvas_enlarges_and_earlier_black_padding_is_dropped() -> None:
    """A letterboxed input (black bands top and bottom) on a 220 x 360 canvas (a 720 x 440
    screen at half size) with no inner frame: the lit rows alone fill the drawn share of the
    canvas height; a frame too narrow for that share narrows the image instead."""
    image, labels = _scene(60, 128)
    padded = np.zeros((128, 128), np.uint8)
    padded[34:94] = image
    plab = np.zeros_like(padded)
    plab[34:94] = labels

    def place(share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return scanner_border(
            padded,
            plab,
            np.random.default_rng(0),
            canvas_hw=(220, 360),
            frame_aspect=None,
            content_height=(share, share),
        )

    out, lab, m = place(0.5)
    assert out.shape == lab.shape == (220, 360)
    assert m[1, 1] == pytest.approx(0.5 * 220 / 60, rel=0.02)
    rows = np.nonzero(lab.any(axis=1))[0]
    assert rows.max() - rows.min() + 1 <= 110 and (lab == 1).sum() > 80
    _, _, wide = place(0.8)  # 0.8 x 220 rows would make it 375 px wide: capped at 0.97 x 360
    assert wide[0, 0] * 128 == pytest.approx(0.97 * 360, abs=1.0)


def test_bad_input_raises() -> None:
    image, labels = _scene()
    with pytest.raises(ValueError, match="one shape"):
        scanner_border(image, labels[:, :-1], np.random.default_rng(0))
    with pytest.raises(ValueError, match="canvas"):
        scanner_border(image, labels, np.random.default_rng(0), canvas_hw=(4, 4))
