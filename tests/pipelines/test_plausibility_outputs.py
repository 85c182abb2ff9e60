"""The plausibility verdict reaches every output: the live echo results and its ``lv``
measurement, the ultrasound result's needle, and ``orstream measure --json``'s frames."""

from __future__ import annotations

import json
from pathlib import Path

from orstream.kernels import LV_CHECKS, NEEDLE_CHECKS
from orstream.pipelines import EchoMeasureStage, EchoSegmentStage, UltrasoundStage
from orstream.sim import EchoSimulator, UltrasoundSimulator
from orstream.stream import make_frame
from tests._helpers import orstream_cli


def test_the_live_echo_stages_publish_the_verdict_beside_the_confidence() -> None:
    sim = EchoSimulator(91_001, size=(160, 160))
    segment, measure = EchoSegmentStage("onnxruntime", workers=1), EchoMeasureStage()
    frames = [
        make_frame(sim.render(i).image, "sim", i, modality="echo", spacing_mm=sim.spacing_mm)
        for i in range(0, 40, 10)
    ]
    done = segment.batch(frames[:2]) + [segment(f) for f in frames[2:]]
    for frame in done:
        measure(frame)
        results = frame.results
        assert isinstance(results["lv_plausible"], bool)
        assert set(results["lv_implausible"]) <= set(LV_CHECKS)
        assert results["lv_plausible"] == (results["lv_implausible"] == [])
        assert results["lv_checks"] == list(LV_CHECKS)  # echo-lv-camus has LA and myocardium
        lv = results["lv"].to_json()
        assert lv["plausible"] == results["lv_plausible"]
        assert lv["implausible"] == results["lv_implausible"]
    assert sum(f.results["lv_plausible"] for f in done) >= 3  # simulated hearts are plausible
    segment.close()


def test_the_ultrasound_result_says_whether_the_needle_is_a_line() -> None:
    sim = UltrasoundSimulator(39_000_123, size=(160, 200))
    stage = UltrasoundStage("onnxruntime")
    stage.open()
    try:
        docs = []
        for i in (300, 600, 900):
            frame = make_frame(sim.render(i).image, "us", i, modality="us")
            docs.append(stage(frame).results["us"].to_json()["needle"])
    finally:
        stage.close()
    for doc in docs:
        assert isinstance(doc["plausible"], bool)
        assert set(doc["implausible"]) <= set(NEEDLE_CHECKS)
        assert doc["plausible"] == (doc["implausible"] == [])
        if not doc["pixels"]["needle"]:
            assert doc["plausible"]  # no needle is not an implausible needle


def test_measure_json_frames_carry_the_verdict(echo_clip: Path) -> None:
    result = orstream_cli("measure", str(echo_clip / "clip.dcm"), "--json")
    assert result.returncode == 0, result.stderr
    frames = json.loads(result.stdout)["frames"]
    assert {"confidence", "quality", "plausible", "implausible"} <= set(frames[0])
    assert all(f["plausible"] == (f["implausible"] == []) for f in frames)
    assert all(set(f["implausible"]) <= set(LV_CHECKS) for f in frames)
    assert sum(f["plausible"] for f in frames) >= 0.8 * len(frames)
