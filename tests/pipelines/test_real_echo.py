"""The shipped echo model on real echo: CAMUS val (expert masks) and a real SonoSite cine.

The masks must be plausible (LV Dice on CAMUS val, an LV found in the cine's frames) and every
output must carry a confidence in [0, 1] that ranks right frames above wrong ones.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from orstream.kernels import TrainOptions, load_model
from orstream.pipelines import (
    ECHO_MODEL,
    EchoMeasureStage,
    EchoSegmentStage,
    echo_document,
    measure_echo_clip,
)
from orstream.sim import CAMUS_TO_ECHO_LV, evaluate_folder, load_camus
from orstream.stream import make_frame, read_cine


def test_camus_val_masks_are_accurate_and_their_confidence_ranks_them(
    real_data: Path, tmp_path: Path
) -> None:
    spec = load_model(ECHO_MODEL)
    options = TrainOptions(speed_frames=5)
    panel = tmp_path / "worst.png"
    report = evaluate_folder(spec, real_data / "camus" / "val", options, CAMUS_TO_ECHO_LV, panel)
    assert report["frames"] == 200 and panel.stat().st_size > 1000
    by_phase = report["dice_by_view_phase"]["lv_cavity"]
    assert all(stats["n"] == 50 and stats["mean"] > 0.88 for stats in by_phase.values())
    confidences = [image["confidence"] for image in report["per_image"]]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    conf = report["confidence"]
    assert conf["class"] == "lv_cavity" and conf["auroc"] > 0.75
    assert conf["mean_right"] > conf["mean_wrong"]
    assert report["ef_from_masks"]["discs_biplane_mean"]["patients"] == 50
    assert report["ef_from_masks"]["discs_biplane_mean"]["mae"] < 0.08


def test_a_real_sonosite_cine_gets_plausible_lv_masks_with_a_confidence(real_data: Path) -> None:
    cine = read_cine(real_data / "dicom-us" / "examples_ybr_color.dcm")
    cine = dataclasses.replace(cine, spacing_mm=(0.6, 0.6))  # as `measure --spacing-mm 0.6`
    result, masks = measure_echo_clip(cine, "onnxruntime")
    doc = echo_document(result, cine)
    assert len(doc["frames"]) == len(masks) == len(cine.frames)
    conf = np.array([f["confidence"] for f in doc["frames"]], np.float64)
    assert np.all((conf >= 0.0) & (conf <= 1.0))
    found = [f for f in result.frames if f.found]
    assert len(found) >= 0.8 * len(result.frames)
    areas = np.array([f.area_mm2 for f in found])
    assert 300 < np.median(areas) < 6000  # an adult LV cavity in an apical view, mm^2
    assert areas.max() > 1.1 * areas.min()  # the cavity changes over the cycle
    lengths = np.array([f.length_mm for f in found])
    assert 35 < np.median(lengths) < 130
    if doc["ef"] is not None:
        assert 0.15 < doc["ef"] < 0.85 and not math.isnan(doc["ef"])


def test_the_live_stages_give_each_real_frame_a_confidence(real_data: Path) -> None:
    val = load_camus("val", real_data)
    segment, measure = EchoSegmentStage("onnxruntime", workers=1), EchoMeasureStage()
    frames = [
        make_frame(val.images[i], "camus", i, modality="us", spacing_mm=(0.3, 0.3))
        for i in range(8)
    ]
    done = segment.batch(frames[:4]) + [segment(f) for f in frames[4:]]
    for frame in done:
        measure(frame)
        lv = frame.results["lv"]
        assert 0.0 <= frame.results["lv_confidence"] <= 1.0
        assert lv.confidence == frame.results["lv_confidence"]
        assert lv.to_json()["confidence"] is not None and lv.found
    segment.close()
