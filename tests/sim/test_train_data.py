"""Simulator-backed training data: disjoint seed splits, determinism, augmentation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from orstream.kernels import batches, fixed_batches, load_model
from orstream.sim import (
    ECHO_LV,
    ECHO_SPLIT_SEEDS,
    TRAINING_TASKS,
    augment_echo,
    render_echo,
    training_task,
)


def test_splits_use_disjoint_seed_ranges_and_render_deterministically() -> None:
    a = render_echo("train", 4, progress=None, render_sizes=(112, 128))
    b = render_echo("train", 4, progress=None, render_sizes=(112, 128))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.images.shape == (8, 112, 112) and a.images.dtype == np.uint8
    assert a.views == ("a4c", "a4c", "a2c", "a2c", "a4c", "a4c", "a2c", "a2c")
    assert set(np.unique(a.labels)) <= set(range(len(ECHO_LV.class_names)))
    assert (a.labels == 1).any(axis=(1, 2)).all()  # every frame shows the LV cavity
    bases = sorted(ECHO_SPLIT_SEEDS.values())
    assert all(hi - lo >= 1_000_000 for lo, hi in itertools.pairwise(bases))
    val = render_echo("val", 2, progress=None)
    assert set(val.seeds).isdisjoint(a.seeds)
    with pytest.raises(ValueError, match="unknown split"):
        render_echo("holdout", 2, progress=None)


def test_septal_dropout_share_changes_images_not_labels() -> None:
    kwargs = {"views": ("a4c",), "progress": None}
    plain = render_echo("test", 6, **kwargs)
    every = render_echo("test", 6, septal_dropout=1.0, **kwargs)
    some = render_echo("test", 6, septal_dropout=0.5, **kwargs)
    np.testing.assert_array_equal(plain.labels, every.labels)
    np.testing.assert_array_equal(plain.frames, some.frames)
    changed = [not np.array_equal(a, b) for a, b in zip(plain.images, every.images, strict=True)]
    assert all(changed)
    some_changed = [
        not np.array_equal(a, b) for a, b in zip(plain.images, some.images, strict=True)
    ]
    assert 0 < sum(some_changed) < len(some_changed)


def test_augment_keeps_shapes_dtypes_and_label_classes() -> None:
    data = render_echo("train", 2, progress=None)
    rng = np.random.default_rng(0)
    for _ in range(20):
        img, lab = augment_echo(data.images[0], data.labels[0], rng)
        assert img.shape == lab.shape == (112, 112)
        assert img.dtype == lab.dtype == np.uint8
        assert set(np.unique(lab)) <= set(np.unique(data.labels[0]))
    assert not np.array_equal(augment_echo(data.images[0], data.labels[0], rng)[0], data.images[0])


def test_batches_are_normalised_shuffled_per_epoch_and_reproducible() -> None:
    data = render_echo("train", 4, progress=None)
    make = batches(
        data.images,
        data.labels,
        ECHO_LV.normalization,
        batch_size=3,
        seed=5,
        stream=0xA06,
        augment=augment_echo,
    )
    first = list(make(0))
    assert len(first) == 2  # 8 frames: two full batches of 3, the rest dropped
    x, y = first[0]
    assert x.shape == (3, 1, 112, 112) and x.dtype == np.float32 and y.shape == (3, 112, 112)
    assert x.min() >= 0.0 and x.max() <= ECHO_LV.normalization["clip"]
    np.testing.assert_array_equal(next(make(0))[0], x)
    assert not np.array_equal(next(make(1))[0], x)
    fixed = fixed_batches(data.images, data.labels, ECHO_LV.normalization, batch_size=5)
    assert [len(b[0]) for b in fixed] == [5, 3]
    with pytest.raises(ValueError, match="no training recipe"):
        training_task("echo-rv")


@pytest.mark.parametrize("model", TRAINING_TASKS)
def test_every_recipe_builds_the_shipped_network(model: str) -> None:
    """The shared network configuration gives each recipe exactly its shipped model's network,
    normalisation, classes, input and tip channel (the cards' commands retrain these)."""
    recipe = training_task(model).recipe
    spec = load_model(model, verify=False)
    assert recipe.name == spec.name == model
    assert recipe.architecture == spec.architecture
    assert recipe.normalization == spec.normalization
    assert recipe.class_names == spec.class_names and recipe.input_size == spec.input_size
    assert recipe.in_channels == spec.in_channels
    assert recipe.tip_heatmap == (spec.tip_channel is not None)
