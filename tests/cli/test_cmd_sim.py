"""``orstream sim publish`` and ``orstream sim export``: the simulated device on the wire and
frames, masks and truth on disk."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
import zmq

from orstream.stream import ZmqFrameSource


def _orstream(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orstream", *args],
        check=False, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_export_echo_writes_frames_masks_truth_and_a_calibrated_cine(tmp_path: Path) -> None:
    out = tmp_path / "echo"
    result = _orstream("sim", "export", "--modality", "echo", "--frames", "12", "--out",
                       str(out), "--seed", "3", "--ef", "0.5", "--hr", "70")  # fmt: skip
    assert result.returncode == 0, result.stderr
    truth = json.loads((out / "truth.json").read_text())
    assert truth["modality"] == "echo" and len(truth["frames"]) == 12
    assert abs(truth["ef"] - 0.5) < 1e-6 and abs(truth["hr_bpm"] - 70) < 1e-6
    assert truth["label_names"][0] == "background"
    for index in range(12):
        image = cv2.imread(str(out / "frames" / f"{index:04d}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / "masks" / f"{index:04d}.png"), cv2.IMREAD_UNCHANGED)
        assert image is not None and mask is not None and image.shape == mask.shape
        assert mask.max() < len(truth["label_names"])
    ds = pydicom.dcmread(out / "clip.dcm")
    assert ds.NumberOfFrames == 12 and ds.Modality == "US"
    assert abs(float(ds.FrameTime) - 1000.0 / truth["fps"]) < 1e-3
    region = ds.SequenceOfUltrasoundRegions[0]
    assert abs(region.PhysicalDeltaX * 10 - truth["spacing_mm"][1]) < 1e-9
    first = cv2.imread(str(out / "frames" / "0000.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(ds.pixel_array[0], first)
    assert str(ds.PatientName) == "" and ds.PatientID == ""


def test_export_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = _orstream("sim", "export", "--modality", "echo", "--frames", "3",
                           "--out", str(tmp_path / name), "--seed", "9")  # fmt: skip
        assert result.returncode == 0, result.stderr
    for index in range(3):
        a = (tmp_path / "a" / "frames" / f"{index:04d}.png").read_bytes()
        assert a == (tmp_path / "b" / "frames" / f"{index:04d}.png").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ef", "55"], "--ef 55.0 is not a fraction"),
        (["--hr", "900"], "--hr 900.0 bpm"),
        (["--modality", "mri"], "invalid choice"),
        (["--frames", "0"], "'0' must be >= 1"),
        (["--fps", "0"], "'0' must be a number > 0"),
        (["--fps", "2000"], "--fps 2000 is above 1000"),
    ],
)
def test_bad_export_arguments_get_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    base = ["sim", "export", "--modality", "echo", "--frames", "2", "--out", str(tmp_path / "x")]
    result = _orstream(*base, *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_publish_streams_frames_at_the_requested_rate_with_truth_beside_them() -> None:
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="sub", hwm=1000)
    context = zmq.Context()
    truth = context.socket(zmq.SUB)
    truth.subscribe(b"")
    truth_port = truth.bind_to_random_port("tcp://127.0.0.1")
    publisher = subprocess.Popen(
        [sys.executable, "-m", "orstream", "sim", "publish", "--modality", "echo",
         "--endpoint", "zmq+" + source.last_endpoint, "--fps", "40", "--frames", "120",
         "--truth-endpoint", f"zmq+tcp://127.0.0.1:{truth_port}", "--warmup", "1.0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    frames, truths = [], []
    deadline = time.monotonic() + 60
    while len(frames) < 120 and time.monotonic() < deadline:
        if (frame := source.recv(0.02)) is not None:
            frames.append((frame.seq, frame.t_capture_ns, frame.modality, frame.spacing_mm))
        while truth.poll(0):  # a bound SUB sends its subscription only when it is used
            truths.append(json.loads(truth.recv()))
    out, err = publisher.communicate(timeout=60)
    assert publisher.returncode == 0, err
    while truth.poll(100):
        truths.append(json.loads(truth.recv()))
    source.close()
    truth.close()
    context.term()
    assert [seq for seq, *_ in frames] == list(range(120))
    assert all(m == "echo" and spacing is not None for _, _, m, spacing in frames)
    published = json.loads(out)
    assert published["frames"] == 120 and published["fps_target"] == 40
    # Capture times: frame k is due 25 ms after frame k-1 and never sent before it is due, so
    # the clip is never faster than 40 fps (only frame 0's own lateness could make it look
    # so). A slow machine may send late (the publisher counts those frames and then catches
    # up); the frames it sent on time are on the 25 ms grid.
    times = np.array([t for _, t, *_ in frames], dtype=np.int64)
    rate = (len(times) - 1) / ((times[-1] - times[0]) / 1e9)
    assert rate < 40 * 1.02, f"capture rate {rate:.2f} fps"
    if published["late_frames"] == 0:
        gap_ms = float(np.median(np.diff(times))) / 1e6
        assert abs(gap_ms - 25.0) < 0.5, f"median frame gap {gap_ms:.2f} ms"
    assert [t["seq"] for t in truths] == list(range(120))
    assert all("lv_volume_ml" in t["truth"] for t in truths)


def test_export_echo_acceptance_ef_heart_rate_and_one_extremum_per_beat(tmp_path: Path) -> None:
    """The issue's acceptance clip: EF from the true volumes, heart rate, LV area extrema."""
    out = tmp_path / "acceptance"
    result = _orstream("sim", "export", "--modality", "echo", "--frames", "60", "--out",
                       str(out), "--ef", "0.55", "--hr", "75", "--seed", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    truth = json.loads((out / "truth.json").read_text())
    volumes = np.array([f["lv_volume_ml"] for f in truth["frames"]])
    fps = truth["fps"]
    edv, esv = volumes.max(), volumes.min()
    assert abs((edv - esv) / edv - 0.55) <= 0.02
    ed_times = [f["t_s"] for f in truth["frames"] if f["ed"]]
    assert len(ed_times) >= 1
    assert abs(truth["hr_bpm"] - 75) <= 1
    masks = [cv2.imread(str(out / "masks" / f"{i:04d}.png"), cv2.IMREAD_UNCHANGED) for i in
             range(60)]  # fmt: skip
    area = np.array([(m == 1).sum() for m in masks], dtype=float)
    beat_frames = 60 / 75 * fps
    smooth = np.convolve(area, np.ones(3) / 3, mode="same")[1:-1]
    rising = np.diff(smooth) > 0
    turns = int(np.sum(rising[1:] != rising[:-1]))
    beats = (len(area) - 2) / beat_frames
    assert turns <= round(2 * beats) + 1, f"{turns} turning points in {beats:.2f} beats"
