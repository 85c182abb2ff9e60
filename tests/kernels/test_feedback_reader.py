"""The clinician feedback folder reader (format v1): valid items read back exactly, malformed
ones are skipped, counted and named in one log line, never fatal."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orstream.kernels import (
    FEEDBACK_FORMAT,
    FEEDBACK_VERSION,
    feedback_pairs,
    mask_to_model_input,
    read_feedback,
    to_model_input,
)
from orstream.stream import write_feedback_item


def meta(seq: int, verdict: str = "redraw", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "verdict": verdict,
        "model": "echo-lv",
        "modality": "echo",
        "stream_id": "echo/probe 1",
        "seq": seq,
        "t_capture_ns": 10 * seq,
        "spacing_mm": [0.3, 0.3],
        "label": 1 if verdict == "redraw" else None,
        "polygon_px": [[1, 1], [5, 1], [5, 5]] if verdict == "redraw" else None,
        "tip_px": [3, 4] if verdict == "move_tip" else None,
        "created_ns": 1000 + seq,
    }
    doc.update(extra)
    return doc


def grey(h: int = 40, w: int = 60, seed: int = 0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def square_mask(h: int = 40, w: int = 60, label: int = 1) -> np.ndarray[Any, Any]:
    mask = np.zeros((h, w), np.uint8)
    mask[10:30, 20:40] = label
    return mask


def corrupt(folder: Path, name: str, **files: bytes | str) -> None:
    item = folder / name
    item.mkdir()
    for filename, content in files.items():
        path = item / filename.replace("_", ".")
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def test_valid_items_read_back_exactly(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    first = write_feedback_item(tmp_path, grey(), square_mask(), meta(1))
    write_feedback_item(tmp_path, rgb, square_mask(label=2), meta(2, "accept"))
    write_feedback_item(tmp_path, grey(seed=3), None, meta(3, "reject"))
    write_feedback_item(tmp_path, grey(seed=4), None, meta(4, "move_tip"))
    assert first.name == "echo_probe_1-00000001-1001"  # the stream id reduced to [A-Za-z0-9_.-]
    found = read_feedback(tmp_path, model="echo-lv", n_classes=6)
    assert found.skipped == ()
    assert [it.verdict for it in found.items] == ["redraw", "accept", "reject", "move_tip"]
    assert found.verdicts == {"redraw": 1, "accept": 1, "reject": 1, "move_tip": 1}
    assert np.array_equal(found.items[0].image, grey())
    assert np.array_equal(found.items[1].image, rgb)  # RGB order, not OpenCV's BGR
    assert np.array_equal(found.items[1].mask, square_mask(label=2))
    assert found.items[2].mask is None and found.items[0].meta["polygon_px"][1] == [5, 1]
    assert [it.verdict for it in found.trainable] == ["redraw", "accept"]
    summary = found.summary()
    assert summary["trainable"] == 2 and summary["skipped"] == 0 and summary["items"] == 4
    doc = json.loads((first / "feedback.json").read_text())
    assert doc["format"] == FEEDBACK_FORMAT and doc["version"] == FEEDBACK_VERSION


def test_malformed_items_are_skipped_counted_and_named_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_feedback_item(tmp_path, grey(), square_mask(), meta(1))
    good = json.dumps({"format": FEEDBACK_FORMAT, "version": 1, **meta(9)})
    png = (next(tmp_path.iterdir()) / "image.png").read_bytes()
    mask_png = (next(tmp_path.iterdir()) / "mask.png").read_bytes()
    corrupt(tmp_path, "a-no-json", image_png=png)
    corrupt(tmp_path, "b-bad-json", feedback_json="{", image_png=png)
    corrupt(tmp_path, "c-version", feedback_json=good.replace('"version": 1', '"version": 2'))
    corrupt(tmp_path, "d-verdict", feedback_json=good.replace('"redraw"', '"maybe"'))
    corrupt(tmp_path, "e-no-mask", feedback_json=good, image_png=png)
    corrupt(tmp_path, "f-not-png", feedback_json=good, image_png=b"GIF89a", mask_png=mask_png)
    corrupt(tmp_path, "g-seq-text", feedback_json=good.replace('"seq": 9', '"seq": "9"'))
    (tmp_path / "loose-file.txt").write_text("not an item")
    (tmp_path / ".h-being-written.tmp").mkdir()  # a writer's temporary name: not looked at
    wrong_size = write_feedback_item(tmp_path, grey(), square_mask(), meta(20))
    (wrong_size / "mask.png").write_bytes(
        (
            write_feedback_item(tmp_path, grey(20, 20), square_mask(20, 20), meta(21)) / "mask.png"
        ).read_bytes()
    )
    write_feedback_item(tmp_path, grey(), square_mask(label=7), meta(22))  # class 7 of 6
    write_feedback_item(tmp_path, grey(), square_mask(), meta(23, label=6))
    write_feedback_item(tmp_path, grey(), square_mask(), meta(24, model="us-needle"))
    with caplog.at_level(logging.WARNING, logger="orstream.kernels"):
        found = read_feedback(tmp_path, model="echo-lv", n_classes=6)
    assert [it.meta["seq"] for it in found.items] == [1, 21]
    skipped = dict(found.skipped)
    assert len(skipped) == 11
    reasons = " | ".join(skipped.values())
    for words in (
        "feedback.json is missing",
        "not valid JSON",
        "version 2",
        "'maybe'",
        "mask.png is missing",
        "not a readable PNG",
        "seq is str",
        "mask.png is (20, 20)",
        "holds class 7",
        "label 6",
        "model us-needle",
    ):
        assert words in reasons, words  # fmt: skip
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "skipped 11 item(s)" in lines[0] and "a-no-json" in lines[0]


def test_missing_folder_and_bad_writes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_feedback(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="verdict 'maybe'"):
        write_feedback_item(tmp_path, grey(), None, meta(1, "maybe"))
    with pytest.raises(ValueError, match="mask is"):
        write_feedback_item(tmp_path, grey(), square_mask(20, 20), meta(1))
    assert list(tmp_path.iterdir()) == []


def test_pairs_are_letterboxed_as_at_inference(tmp_path: Path) -> None:
    write_feedback_item(tmp_path, grey(40, 60), square_mask(40, 60), meta(1))
    found = read_feedback(tmp_path)
    images, masks = feedback_pairs(found.trainable, (30, 30))
    assert images.shape == masks.shape == (1, 30, 30)
    assert np.array_equal(images[0], to_model_input(grey(40, 60), (30, 30)))
    assert np.array_equal(masks[0], mask_to_model_input(square_mask(40, 60), (30, 30)))
    assert set(np.unique(masks)) == {0, 1}
    rows = np.nonzero(masks[0].any(axis=1))[
        0
    ]  # rows 10-29 are 20-39 of the 60 px square: 10-19 at 30
    assert rows.min() == 10 and rows.max() == 19
    with pytest.raises(ValueError, match="no feedback item with a mask"):
        feedback_pairs((), (30, 30))
