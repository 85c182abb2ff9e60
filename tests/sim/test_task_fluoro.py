"""The fluoro-catheter task: views at three scales, tip targets, augmentation, splits."""

from __future__ import annotations

import math

import numpy as np

from orstream.kernels import TrainOptions, heatmap_target
from orstream.sim import (
    FLUORO_CATHETER,
    FLUORO_SPLIT_SEEDS,
    FLUORO_TRAIN_CROP,
    LOW_DOSE_RANGE,
    augment_fluoro_view,
    fluoro_frame_views,
    fluoro_run,
    fluoro_subcrop,
    fluoro_view,
    low_dose_for,
    training_task,
)

RECIPE = FLUORO_CATHETER
INPUT = RECIPE.input_size[0]
SPLIT_SEEDS = FLUORO_SPLIT_SEEDS
TRAIN_CROP = FLUORO_TRAIN_CROP


def test_heat_target_peaks_at_one_on_the_tip_and_is_empty_without_it() -> None:
    heat = heatmap_target((10.4, 20.6), (32, 32), 1.5)
    assert heat[21, 10] == 1.0 and heat.max() == 1.0
    assert np.count_nonzero(heat == 1.0) == 1 and 0.0 < heat[21, 12] < 1.0
    assert not heatmap_target((math.nan, math.nan), (32, 32)).any()
    assert not heatmap_target((40.0, 3.0), (32, 32)).any()


def test_views_map_the_tip_and_the_catheter_at_every_scale() -> None:
    sim = fluoro_run(SPLIT_SEEDS["val"] + 3)
    frame = sim.render(12)
    tip = (float(frame.truth["tip_px"][0]), float(frame.truth["tip_px"][1]))
    # native crop: the tip lands at (tip - origin) exactly
    x0, y0 = int(tip[0]) - 100, int(tip[1]) - 120
    x, y, heat, inside = fluoro_view(frame.image, frame.labels, tip, (x0, y0, INPUT))
    r, c = np.unravel_index(np.argmax(heat), heat.shape)
    assert inside and (c, r) == (round(tip[0] - x0), round(tip[1] - y0))
    assert y[r - 3 : r + 4, c - 3 : c + 4].any()  # the catheter ends there
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= RECIPE.normalization["clip"]
    # whole frame shrunk 4x: model px j covers frame px [4j, 4j + 4)
    _, y4, heat4, _ = fluoro_view(frame.image, frame.labels, tip, (0, 0, 1024))
    r, c = np.unravel_index(np.argmax(heat4), heat4.shape)
    assert (c, r) == (round((tip[0] + 0.5) / 4 - 0.5), round((tip[1] + 0.5) / 4 - 0.5))
    assert y4[r - 2 : r + 3, c - 2 : c + 3].any()
    views = fluoro_frame_views(frame.image, frame.labels, tip, np.random.default_rng(0))
    assert len(views) == 3 and all(v[0].shape == (INPUT, INPUT) for v in views)


def test_augmentation_turns_the_tip_with_the_image() -> None:
    sim = fluoro_run(SPLIT_SEEDS["val"] + 4)
    frame = sim.render(5)
    tip = (float(frame.truth["tip_px"][0]), float(frame.truth["tip_px"][1]))
    v = fluoro_view(frame.image, frame.labels, tip, (int(tip[0]) - 128, int(tip[1]) - 128, INPUT))
    rng = np.random.default_rng(1)
    for _ in range(6):
        x, y, heat, inside = augment_fluoro_view(v, rng)
        r, c = np.unravel_index(np.argmax(heat), heat.shape)
        assert inside and heat.max() == 1.0 and y[r - 3 : r + 4, c - 3 : c + 4].any()
        assert x.shape == y.shape == heat.shape == (INPUT, INPUT) and x.flags.c_contiguous


def test_training_windows_keep_the_tip_with_its_catheter() -> None:
    sim = fluoro_run(SPLIT_SEEDS["val"] + 5)
    frame = sim.render(9)
    tip = (float(frame.truth["tip_px"][0]), float(frame.truth["tip_px"][1]))
    v = fluoro_view(frame.image, frame.labels, tip, (int(tip[0]) - 128, int(tip[1]) - 128, INPUT))
    rng = np.random.default_rng(2)
    windows = [fluoro_subcrop(v, rng) for _ in range(20)]
    assert all(w[0].shape == (TRAIN_CROP, TRAIN_CROP) for w in windows)
    with_tip = [w for w in windows if w[3]]
    assert len(with_tip) >= 8
    for _x, y, heat, _ in with_tip:
        r, c = np.unravel_index(np.argmax(heat), heat.shape)
        assert heat[r, c] == 1.0 and y[max(r - 3, 0) : r + 4, max(c - 3, 0) : c + 4].any()


def test_runs_are_seeded_and_training_data_is_batched() -> None:
    a, b = fluoro_run(SPLIT_SEEDS["train"]), fluoro_run(SPLIT_SEEDS["train"])
    assert a.anatomy == b.anatomy and a.dose == b.dose
    np.testing.assert_array_equal(a.render(3).image, b.render(3).image)
    data = training_task("fluoro-catheter").training_data(
        TrainOptions(samples=12, val_samples=12, batch_size=4, progress=None)
    )
    x, y, heat = next(iter(data.train(0)))
    assert x.shape == (4, 1, TRAIN_CROP, TRAIN_CROP)
    assert y.shape == heat.shape == (4, TRAIN_CROP, TRAIN_CROP)
    assert x.dtype == np.float32 and y.dtype == np.uint8 and heat.dtype == np.float32
    assert data.val_frames == 18 and len(data.val) == 1
    assert data.doc["val_seeds"] == [SPLIT_SEEDS["val"], SPLIT_SEEDS["val"] + 1]


def test_low_dose_runs_are_a_seeded_share_below_the_drawn_range() -> None:
    seeds = range(SPLIT_SEEDS["train"], SPLIT_SEEDS["train"] + 400)
    assert all(low_dose_for(s, 0.0) is None for s in seeds)
    doses = [low_dose_for(s, 0.5) for s in seeds]
    low = [d for d in doses if d is not None]
    assert 150 < len(low) < 250  # about half
    assert all(LOW_DOSE_RANGE[0] <= d <= LOW_DOSE_RANGE[1] for d in low)
    assert doses == [low_dose_for(s, 0.5) for s in seeds]  # the same runs every time
    assert all(low_dose_for(s, 1.0) is not None for s in seeds)
    sim = fluoro_run(SPLIT_SEEDS["train"], dose=LOW_DOSE_RANGE[0])
    assert sim.describe()["dose_photons_per_px"] == LOW_DOSE_RANGE[0]
