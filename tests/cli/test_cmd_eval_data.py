"""``orstream eval seg --data DIR``: any model on any folder of images and class-index masks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from tests._helpers import orstream_main


def _folder(real_data: Path, tmp_path: Path, n: int = 8) -> Path:
    """``n`` CAMUS val images with their masks re-indexed 1->10, 2->20, 3->30."""
    src = real_data / "camus" / "val"
    out = tmp_path / "folder"
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    for path in sorted((src / "images").glob("*.png"))[:n]:
        shutil.copy(path, out / "images" / path.name)
        mask = cv2.imread(str(src / "masks" / path.name), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(out / "masks" / path.name), mask * 10)
    return out


def test_eval_seg_data_scores_each_image_with_a_label_map(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(real_data, tmp_path)
    args = ["eval", "seg", "--model", "echo-lv", "--data", str(folder), "--speed-frames", "5"]
    code = orstream_main(*args, "--labels", "10:1,20:2,30:4", "--json")
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 8 and report["label_map"] == {"0": 0, "10": 1, "20": 2, "30": 4}
    assert [im["name"] for im in report["per_image"]] == sorted(
        p.stem for p in (folder / "images").glob("*.png")
    )
    assert all(0.5 < im["dice"]["lv_cavity"] <= 1.0 for im in report["per_image"])
    assert all(0.0 <= im["confidence"] <= 1.0 for im in report["per_image"])
    assert report["confidence"]["class"] == "lv_cavity" and "auroc" in report["confidence"]
    assert set(report["dice_by_view_phase"]["lv_cavity"]) == {
        "a2c_ED",
        "a2c_ES",
        "a4c_ED",
        "a4c_ES",
    }
    assert "rv" in report["classes_not_in_truth"] and "rv" not in report["dice"]
    # Without the map the 10/20/30 masks are not echo-lv's classes: no LV truth to score.
    assert orstream_main(*args, "--json") == 0
    unmapped = json.loads(capsys.readouterr().out)
    assert "lv_cavity" in unmapped["classes_not_in_truth"]
    assert all(im["dice"]["lv_cavity"] == 0.0 for im in unmapped["per_image"])


def test_eval_seg_data_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["eval", "seg", "--model", "echo-lv"]
    assert orstream_main(*base, "--data", str(tmp_path)) != 0
    assert "needs images/ and masks/" in capsys.readouterr().err
    assert orstream_main(*base, "--labels", "1:1") != 0
    assert "go with --data" in capsys.readouterr().err
    assert orstream_main(*base, "--data", str(tmp_path), "--labels", "1=1") != 0
    assert "bad label mapping" in capsys.readouterr().err


def test_eval_seg_data_prints_a_few_lines(
    real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(real_data, tmp_path, n=4)
    args = ["eval", "seg", "--model", "echo-lv-camus", "--data", str(folder), "--labels", "1:1"]
    assert orstream_main(*args, "--speed-frames", "5") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("echo-lv-camus on 4 images") and 4 <= len(lines) <= 12
    assert any("confidence (" in line and "AUROC" in line for line in lines)
