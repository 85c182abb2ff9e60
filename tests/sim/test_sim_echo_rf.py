"""The physics-based echo renderer: same heart and truth as the base simulator, its own image."""

from __future__ import annotations

import numpy as np

from orstream.kernels import dice_scores, load_backend, segment_images
from orstream.sim import EchoSimulator, RfEchoSimulator

SEED = 5_200_000  # above every echo-lv split


def test_same_heart_and_truth_as_the_base_simulator_but_its_own_image() -> None:
    rf, base = RfEchoSimulator(SEED), EchoSimulator(SEED)
    a, b = rf.render(7), base.render(7)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.truth == b.truth and rf.spacing_mm == base.spacing_mm
    assert a.image.shape == b.image.shape and a.image.dtype == np.uint8
    assert np.mean(np.abs(a.image.astype(int) - b.image.astype(int))) > 10
    np.testing.assert_array_equal(RfEchoSimulator(SEED).render(7).image, a.image)
    assert not np.array_equal(rf.render(8).image, a.image)  # speckle decorrelates
    lv, myo = a.image[a.labels == 1], a.image[a.labels == 2]
    assert lv.mean() + 40 < myo.mean()  # blood is dark, muscle bright
    assert rf.describe()["renderer"] == "rf" and 1.7 <= rf.settings["f0_mhz"] <= 3.5


def test_echo_lv_finds_the_lv_in_a_renderer_it_never_saw() -> None:
    rf = RfEchoSimulator(SEED + 1, view="a2c")
    frames = [rf.render(i) for i in (0, 20, 40)]
    masks = segment_images(load_backend("echo-lv", "onnxruntime"), [f.image for f in frames])
    dice = [dice_scores(m == 1, f.labels == 1, 2)[0, 0] for m, f in zip(masks, frames, strict=True)]
    assert min(dice) > 0.85  # a floor under the benchmark's figure
