"""``orstream track``: the catheter tip per frame of a clip, with the shipped fluoro-catheter."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from orstream.pipelines import TipResult
from orstream.sim import fluoro_run as simulator
from orstream.stream import RecordingWriter, make_frame
from tests._helpers import orstream_main

SEED = 6_500_000
"""A run from the test range, never trained on (training seeds start at 4,000,000)."""


def _export(folder: Path, frames: int) -> tuple[list[list[float]], float]:
    """16-bit PNG frames of a fresh fluoroscopy run; the true tips (px) and the spacing."""
    folder.mkdir()
    sim = simulator(SEED)
    tips = []
    for k in range(frames):
        frame = sim.render(k)
        cv2.imwrite(str(folder / f"{k:04d}.png"), frame.image)
        tips.append(frame.truth["tip_px"])
    return tips, sim.spacing_mm[0]


def test_tracks_the_tip_of_a_fresh_simulated_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tips, spacing = _export(tmp_path / "frames", 24)
    code = orstream_main(
        "track",
        str(tmp_path / "frames"),
        "--spacing-mm",
        str(spacing),
        "--fps",
        "15",
        "--json",
        "--backend",
        "onnxruntime",
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    frames = doc["frames"]
    assert [f["index"] for f in frames] == list(range(24))
    # the live fluoro pipeline's TipResult mapping plus the index: a superset of the first keys
    assert {"index", "x_px", "y_px", "x_mm", "y_mm", "confidence"} <= set(frames[0])
    none = TipResult(False, math.nan, math.nan, None, None, 0.0, "none")
    assert set(frames[0]) == {"index", *none.to_json()}
    assert doc["model"] == "fluoro-catheter" and doc["spacing_mm"] == [spacing, spacing]
    errors = [
        np.hypot(f["x_px"] - t[0], f["y_px"] - t[1]) if f["x_px"] is not None else np.inf
        for f, t in zip(frames, tips, strict=True)
    ]
    assert np.median(errors) < 8.0  # 2 mm at 0.25 mm/px: a loose floor under the model card's
    later = frames[-1]
    assert later["confidence"] > 0.5
    assert later["x_mm"] == pytest.approx(later["x_px"] * spacing, abs=1e-2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["track", "no/such/folder"], "no such file or folder"),
        (["track", "{small}", "--fps", "15"], "smaller than the model's 256 px input"),
        (["track", "{small}", "--model", "echo-lv"], "has no tip heatmap"),
        (["track", "{junk}"], "not an 8- or 16-bit PNG"),
    ],
)
def test_bad_input_gets_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    small, junk = tmp_path / "small", tmp_path / "junk"
    small.mkdir()
    junk.mkdir()
    cv2.imwrite(str(small / "0000.png"), np.zeros((100, 120), np.uint8))
    (junk / "0000.png").write_bytes(b"\x89PNG not really")
    args = [a.format(small=small, junk=junk) for a in args]
    assert orstream_main(*args) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_recording_by_its_file_uri_keeps_its_spacing_and_frame_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``file:PATH`` (the live source URI): the spacing of the recorded frames, the frame rate
    of their capture times (20 ms apart: 50 fps), one result per frame."""
    sim = simulator(SEED)
    path = tmp_path / "run.rec"
    with RecordingWriter(path) as writer:
        for k in range(4):
            t_ns, image = k * 20_000_000, sim.render(k).image
            writer.append(
                make_frame(image, "fluoro", k, t_capture_ns=t_ns, spacing_mm=sim.spacing_mm)
            )
    assert orstream_main("track", f"file:{path}", "--json", "--backend", "onnxruntime") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fps"] == pytest.approx(50.0) and doc["spacing_mm"] == list(sim.spacing_mm)
    assert [f["index"] for f in doc["frames"]] == [0, 1, 2, 3]
