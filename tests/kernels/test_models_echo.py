"""The shipped echo-lv model: its sidecar, its hash, and its Dice on fresh simulator seeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from orstream.kernels import (
    MODELS_DIR,
    available_models,
    dice_scores,
    load_backend,
    load_model,
    segment_images,
    sha256_file,
)
from orstream.sim import EchoSimulator

MAX_MODEL_BYTES = 10 * 1024 * 1024


def test_echo_lv_is_shipped_with_a_sidecar_whose_sha256_matches() -> None:
    assert "echo-lv" in available_models()
    onnx_path = MODELS_DIR / "echo-lv.onnx"
    doc = json.loads((MODELS_DIR / "echo-lv.json").read_text())
    assert doc["sha256"] == sha256_file(onnx_path)
    assert onnx_path.stat().st_size <= MAX_MODEL_BYTES
    assert doc["not_for_clinical_use"] is True
    assert doc["class_names"][:2] == ["background", "lv_cavity"]
    assert doc["input"]["size"] == [112, 112] and doc["input"]["layout"] == "NCHW"
    assert doc["training"]["command"].startswith("orstream train seg --model echo-lv")
    spec = load_model("echo-lv")
    assert spec.onnx_path == onnx_path and spec.n_classes == len(doc["class_names"])


def test_a_changed_model_file_fails_its_hash_check(tmp_path: Path) -> None:
    for suffix in (".onnx", ".json"):
        shutil.copy(MODELS_DIR / f"echo-lv{suffix}", tmp_path / f"echo-lv{suffix}")
    assert load_model(tmp_path / "echo-lv.onnx").name == "echo-lv"
    with open(tmp_path / "echo-lv.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ValueError, match="sha256"):
        load_model(tmp_path / "echo-lv.onnx")
    with pytest.raises(ValueError, match="unknown model 'echo-rv'"):
        load_model("echo-rv")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.onnx")


def test_echo_lv_finds_the_lv_on_fresh_seeds() -> None:
    """12 frames of 6 anatomies never used in training (A4C and A2C, random instants):
    mean LV-cavity Dice >= 0.9 (the full evaluation is ``orstream eval seg``)."""
    backend = load_backend("echo-lv", "onnxruntime")
    images, truths = [], []
    for j in range(6):
        sim = EchoSimulator(3_900_000 + j, view=("a4c", "a2c")[j % 2], size=(112, 112))
        for index in (5 + 11 * j, 40 + 13 * j):
            frame = sim.render(index)
            images.append(frame.image)
            truths.append(frame.labels)
    masks = np.stack(list(segment_images(backend, images)))
    lv = dice_scores(masks, np.stack(truths), backend.model.n_classes)[:, 0]
    print(f"LV Dice on fresh seeds: mean {lv.mean():.3f}, min {lv.min():.3f}")
    assert lv.mean() >= 0.9


def test_echo_lv_works_on_a_non_square_larger_frame() -> None:
    """A 160 x 213 px frame (the 112 px model behind a letterbox): LV Dice stays high."""
    backend = load_backend("echo-lv", "onnxruntime")
    sim = EchoSimulator(3_950_000, size=(160, 160))
    frame = sim.render(20)
    wide = np.zeros((160, 213), np.uint8)
    truth = np.zeros((160, 213), np.uint8)
    wide[:, 26:186], truth[:, 26:186] = frame.image, frame.labels
    mask = next(segment_images(backend, [wide]))
    assert mask.shape == wide.shape and mask.dtype == np.uint8
    assert dice_scores(mask, truth, backend.model.n_classes)[0, 0] >= 0.85
