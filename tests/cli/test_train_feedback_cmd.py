"""``orstream train seg --model NAME --feedback DIR``: a tiny fine-tuning run end to end (4
simulator frames as feedback, 1 epoch), the model card's feedback provenance, the malformed
item skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orstream.kernels import load_backend, load_model
from orstream.sim import EchoSimulator
from orstream.stream import write_feedback_item
from tests._helpers import orstream_main


def item_meta(seq: int, verdict: str) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "model": "echo-lv",
        "modality": "echo",
        "stream_id": "sim-echo",
        "seq": seq,
        "t_capture_ns": seq,
        "spacing_mm": None,
        "label": 1 if verdict == "redraw" else None,
        "polygon_px": None,
        "tip_px": None,
        "created_ns": 100 + seq,
    }


@pytest.fixture
def feedback(tmp_path: Path) -> Path:
    """3 redraw and 1 accept items (simulator frames, 128 px, with their truth masks), 1
    reject item and 1 malformed item (no image)."""
    folder = tmp_path / "feedback"
    folder.mkdir()
    for seq in range(4):
        sim = EchoSimulator(40 + seq, view=("a4c", "a2c")[seq % 2], size=(128, 128))
        frame = sim.render(7 * seq)
        verdict = "accept" if seq == 3 else "redraw"
        write_feedback_item(folder, frame.image, frame.labels, item_meta(seq, verdict))
    write_feedback_item(folder, frame.image, None, item_meta(4, "reject"))
    broken = folder / "sim-echo-00000005-105"
    broken.mkdir()
    doc = {"format": "orstream-feedback", "version": 1, **item_meta(5, "redraw")}
    (broken / "feedback.json").write_text(json.dumps(doc))
    return folder


def test_feedback_fine_tuning_runs_and_records_its_provenance(
    feedback: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tuned"
    args = ["train", "seg", "--model", "echo-lv", "--feedback", str(feedback), "--epochs", "1"]
    args += ["--replay", "8", "--batch-size", "4", "--threads", "1", "--out", str(out)]
    assert orstream_main(*args) == 0
    printed = capsys.readouterr().out
    assert "fine-tuned on 4 feedback pair(s)" in printed
    assert "redraw 3, accept 1; reject 1" in printed and "1 malformed" in printed
    assert "Dice on feedback: lv_cavity" in printed

    base = load_model("echo-lv")
    tuned = load_model(out / "echo-lv.onnx")  # the sidecar's hash checks
    assert tuned.name == "echo-lv" and tuned.sha256 != base.sha256
    assert tuned.class_names == base.class_names and tuned.input_size == base.input_size
    card = tuned.training
    fb = card["feedback"]
    assert fb["folder"] == str(feedback.resolve())
    assert fb["items"] == 5 and fb["trainable"] == 4 and fb["pairs"] == 4
    assert fb["verdicts"] == {"accept": 1, "reject": 1, "redraw": 3, "move_tip": 0}
    assert fb["skipped"] == 1 and fb["skipped_items"] == [
        "sim-echo-00000005-105: image.png is missing"
    ]
    assert fb["augmentation"] == "augment_echo"
    assert card["init"]["model"] == "echo-lv" and card["init"]["sha256"] == base.sha256
    assert card["init"]["torch_vs_onnx_max_abs"] < 1e-3
    assert card["seed"] == 0 and card["command"].startswith("orstream train seg --model echo-lv")
    assert f"--feedback {feedback}" in card["command"]
    assert card["replay"]["frames_per_epoch"] == 8 and card["replay"]["simulator"]
    assert set(card["dice_before"]) == set(card["dice_after"]) == {"feedback", "replay_val"}
    assert card["base_training"] == base.training
    card_md = (out / "echo-lv.md").read_text()
    assert "Fine-tuned from clinician feedback" in card_md and base.sha256 in card_md
    assert "redraw 3" in card_md and "1 malformed" in card_md
    report = json.loads((out / "report.json").read_text())
    assert len(report["history"]) == 1

    image = EchoSimulator(40, view="a4c", size=(112, 112)).render(0).image
    x = tuned.preprocess(image)
    logits = load_backend(tuned, "onnxruntime").run(x)
    assert logits.shape == (1, 6, 112, 112) and np.isfinite(logits).all()


def test_a_folder_with_nothing_to_learn_from_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "only-rejects"
    folder.mkdir()
    image = np.zeros((64, 64), np.uint8)
    write_feedback_item(folder, image, None, item_meta(0, "reject"))
    args = ["train", "seg", "--model", "echo-lv", "--feedback", str(folder), "--epochs", "1"]
    assert orstream_main(*args, "--out", str(tmp_path / "out")) != 0
    err = capsys.readouterr().err
    assert "no redraw or accept item for echo-lv" in err and "1 valid item(s)" in err
    assert orstream_main(*args[:5], str(tmp_path / "missing")) != 0
    assert "does not exist" in capsys.readouterr().err
