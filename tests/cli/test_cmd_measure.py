"""``orstream measure``: echo measurements from a clip, through the shipped echo-lv model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from orstream.pipelines import InputReader, load_clip
from tests._helpers import orstream_cli


def test_measure_a_dicom_clip_gives_ef_and_heart_rate_near_the_truth(echo_clip: Path) -> None:
    result = orstream_cli("measure", str(echo_clip / "clip.dcm"), "--json", "--masks-out",
                          str(echo_clip / "lv"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["frames"]) == 100 and doc["method"].startswith("single-plane method of discs")
    assert {"index", "t_s", "lv_area_mm2", "lv_volume_ml", "quality"} <= set(doc["frames"][0])
    assert len(doc["beats"]) >= 1
    assert {"ed_frame", "es_frame", "edv_ml", "esv_ml", "ef"} <= set(doc["beats"][0])
    assert abs(doc["ef"] - 0.55) <= 0.08 and doc["model"] == "echo-lv-camus"
    assert abs(doc["heart_rate_bpm"] - 75) <= 3
    mask = cv2.imread(str(echo_clip / "lv" / "0000.png"), cv2.IMREAD_UNCHANGED)
    frame = cv2.imread(str(echo_clip / "frames" / "0000.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == frame.shape and set(mask.ravel().tolist()) <= {0, 255}


def test_the_apache_licensed_model_can_be_chosen_and_the_document_names_it(
    echo_clip: Path,
) -> None:
    result = orstream_cli("measure", str(echo_clip / "clip.dcm"), "--json", "--model", "echo-lv")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["model"] == "echo-lv" and abs(doc["ef"] - 0.55) <= 0.08
    bad = orstream_cli("measure", str(echo_clip / "clip.dcm"), "--model", "no-such-model")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_a_png_folder_needs_fps_and_spacing(echo_clip: Path) -> None:
    result = orstream_cli("measure", str(echo_clip / "frames"))
    assert result.returncode == 2
    assert "--fps and --spacing-mm" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_real_dicom_measures_or_fails_with_one_line(real_data: Path) -> None:
    for path in sorted((real_data / "dicom-us").glob("*.dcm")):
        result = orstream_cli("measure", str(path), "--json")
        assert result.returncode in (0, 2), (path.name, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        if result.returncode == 0:
            assert json.loads(result.stdout)["frames"]
        else:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_report_holds_the_summary_the_curve_and_the_ed_es_frames(echo_clip: Path) -> None:
    report = echo_clip / "report.html"
    result = orstream_cli("measure", str(echo_clip / "clip.dcm"), "--report", str(report))
    assert result.returncode == 0, result.stderr
    page = report.read_text(encoding="utf-8")
    assert "The left ventricular ejection fraction is" in page
    assert page.count("data:image/png;base64,") == 3  # volume curve, ED frame, ES frame
    assert "End-diastole" in page and "End-systole" in page


def test_ef_categories_follow_the_guideline_ranges() -> None:
    from orstream.pipelines import ef_category

    assert ef_category(0.62) == "normal" and ef_category(0.50) == "normal"
    assert ef_category(0.45) == "mildly reduced" and ef_category(0.40) == "reduced"
    assert ef_category(None) == "not measured"


def test_one_reader_takes_a_bare_path_or_the_live_source_uri(echo_clip: Path) -> None:
    """``png:DIR?fps=F&spacing_mm=S`` and ``dicom:PATH`` (as ``orstream run`` takes them) give
    the clips the bare paths and flags give; flags override the URI's values."""
    frames, dcm = echo_clip / "frames", echo_clip / "clip.dcm"
    bare, names = load_clip(str(frames), 50.0, 0.3)
    uri, uri_names = load_clip(f"png:{frames}?fps=50&spacing_mm=0.3", None, None)
    assert names == uri_names and names[0] == "0000.png" and len(names) == 100
    assert np.array_equal(bare.frames, uri.frames)
    assert (uri.fps, uri.spacing_mm) == (50.0, (0.3, 0.3)) and uri.source == bare.source
    flagged, _ = load_clip(f"png:{frames}?fps=50&spacing_mm=0.3", 25.0, 0.2)
    assert (flagged.fps, flagged.spacing_mm) == (25.0, (0.2, 0.2))
    plain, _ = load_clip(str(dcm), None, None)
    prefixed, _ = load_clip(f"dicom:{dcm}", None, None)
    assert np.array_equal(plain.frames, prefixed.frames) and plain.fps == prefixed.fps
    with InputReader(f"dicom:{dcm}") as reader:
        assert (reader.kind, reader.fps, reader.spacing_mm) == (
            "dicom",
            plain.fps,
            plain.spacing_mm,
        )
