"""The live ultrasound result and ``orstream segment --json`` carry a confidence per nerve and
vessel (``orstream.kernels.segment_images_by_class``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import pytest

from orstream.pipelines import UltrasoundStage
from orstream.sim import UltrasoundSimulator
from orstream.stream import make_frame
from tests._helpers import orstream_main


def test_the_live_anatomy_result_has_a_confidence_per_structure() -> None:
    sim = UltrasoundSimulator(39_000_124, size=(160, 200))
    stage = UltrasoundStage("onnxruntime")
    stage.open()
    try:
        docs = [
            stage(make_frame(sim.render(i).image, "us", i, modality="us")).results["us"].to_json()
            for i in (100, 400)
        ]
    finally:
        stage.close()
    for doc in docs:
        anatomy = doc["anatomy"]
        by_class = anatomy["confidence_by_class"]
        assert set(by_class) == {"nerve", "vessel"}
        assert all(0.0 <= v <= 1.0 for v in by_class.values())
        found = [v for v in by_class.values() if v > 0]
        if found:  # the mask's confidence: the mean over the structures found
            assert anatomy["confidence"] == pytest.approx(sum(found) / len(found), abs=1e-3)
        else:
            assert anatomy["confidence"] is None or math.isnan(anatomy["confidence"])
    assert docs[0]["needle"]["confidence_by_class"] is None  # the needle has its tip's


def test_segment_json_lists_each_frames_confidence_per_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "in", tmp_path / "masks"
    src.mkdir()
    sim = UltrasoundSimulator(39_000_125, size=(160, 200))
    for i in (0, 1):
        cv2.imwrite(str(src / f"f{i}.png"), sim.render(300 * i).image)
    code = orstream_main(
        "segment", str(src), "--model", "us-nerve-vessel", "--masks-out", str(out), "--json"
    )
    assert code == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    assert [f["name"] for f in frames] == ["f0.png", "f1.png"]
    for f in frames:
        assert set(f["confidence"]) == {"nerve", "vessel"}
        assert all(0.0 <= v <= 1.0 for v in f["confidence"].values())
