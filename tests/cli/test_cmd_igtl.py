"""``orstream run --igtl`` and ``orstream replay FILE.igs.mha --igtl`` against pyigtl's own
client (not our code): the tracked tip as CatheterTipToImage at the frame rate, matching the
results JSONL, the label map on request; a PLUS sequence served with its transforms."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyigtl
from pyigtl.messages import MessageBase

from tests._helpers import FAILURE_BOUND_S, free_port, orstream_cli, orstream_spawn


def _query(kind: str, device: str) -> Any:
    message = MessageBase(device_name=device)
    message._message_type = kind
    message._valid_message = True
    return message


def _collect(client: Any, process: Any) -> tuple[list[Any], Any]:
    """Every CatheterTipToImage until the process ends (polled each ms); the label map,
    asked for once the first transform came."""
    tips: list[Any] = []
    labels = None
    asked = False
    deadline = time.monotonic() + FAILURE_BOUND_S * 12
    while process.poll() is None and time.monotonic() < deadline:
        for message in client.get_latest_messages():
            if message.device_name == "CatheterTipToImage":
                tips.append(message)
            elif message.device_name == "catheter_mask":
                labels = message
        if tips and not asked:
            client.send_message(_query("GET_IMAGE", "catheter_mask"), wait=False)
            asked = True
        time.sleep(0.001)
    return tips, labels


def test_pyigtl_client_gets_the_tracked_tip_and_the_label_map(tmp_path: Path) -> None:
    port = free_port()
    results = tmp_path / "results.jsonl"
    client = pyigtl.OpenIGTLinkClient("127.0.0.1", port)  # connects once the server is up
    process = orstream_spawn(
        "run", "--source", "sim:fluoro?seed=7&fps=15", "--pipeline", "fluoro",
        "--igtl", str(port), "--results", str(results), "--frames", "75", "--quiet",
    )  # fmt: skip
    try:
        tips, labels = _collect(client, process)
    finally:
        client.stop()
        _, err = process.communicate(timeout=FAILURE_BOUND_S * 6)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    by_time = {line["t_capture_ns"]: line["results"]["tip"] for line in lines}
    assert len(tips) >= 10, f"only {len(tips)} transforms of {len(lines)} frames"
    for message in tips:
        t_ns = min(by_time, key=lambda t: abs(t - message.timestamp * 1e9))
        assert abs(t_ns - message.timestamp * 1e9) < 1e3  # the frame's capture time
        tip = by_time[t_ns]
        assert tip["found"]
        np.testing.assert_allclose(message.matrix[:2, 3], [tip["x_mm"], tip["y_mm"]], atol=2e-3)
    assert len({m.timestamp for m in tips}) == len(tips)  # one per frame, none repeated
    assert labels is not None, "no label map after GET_IMAGE"
    mask = labels.image[0]
    assert set(np.unique(mask)) <= {0, 1} and mask.any()
    assert labels.ijk_to_world_matrix[0, 0] > 0


def _sequence(path: Path, frames: int = 3) -> None:
    lines = ["ObjectType = Image", "NDims = 3", "CompressedData = False",
             f"DimSize = 8 6 {frames}", "ElementSpacing = 0.5 0.5 1",
             "ElementType = MET_UCHAR"]  # fmt: skip
    for k in range(frames):
        lines += [
            f"Seq_Frame{k:04d}_Timestamp = {1.0 + 0.5 * k}",
            f"Seq_Frame{k:04d}_ProbeToReferenceTransform = 1 0 0 {k} 0 1 0 0 0 0 1 0 0 0 0 1",
        ]
    lines.append("ElementDataFile = LOCAL")
    pixels = np.repeat(np.arange(frames, dtype=np.uint8) + 1, 48)
    path.write_bytes(("\n".join(lines) + "\n").encode() + pixels.tobytes())


def test_replay_serves_a_plus_sequence_with_its_transforms(tmp_path: Path) -> None:
    path = tmp_path / "probe.igs.mha"
    _sequence(path)
    port = free_port()
    process = orstream_spawn("replay", str(path), "--igtl", str(port), "--json")
    client = pyigtl.OpenIGTLinkClient("127.0.0.1", port)
    images: list[Any] = []
    probes: list[Any] = []
    try:
        deadline = time.monotonic() + FAILURE_BOUND_S * 3
        while process.poll() is None and time.monotonic() < deadline:
            for message in client.get_latest_messages():
                (images if message.message_type == "IMAGE" else probes).append(message)
            time.sleep(0.001)
        for message in client.get_latest_messages():
            (images if message.message_type == "IMAGE" else probes).append(message)
    finally:
        client.stop()
        out, err = process.communicate(timeout=FAILURE_BOUND_S)
    assert process.returncode == 0, err
    assert json.loads(out)["frames"] == 3
    assert [int(m.image[0, 0, 0]) for m in images] == [1, 2, 3]
    assert [float(m.matrix[0, 3]) for m in probes] == [0.0, 1.0, 2.0]
    assert {m.device_name for m in probes} == {"ProbeToReference"}


def test_replay_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "probe.igs.mha"
    _sequence(path)
    done = orstream_cli("replay", str(path))
    assert done.returncode == 2 and "serve it with --igtl" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    recording = tmp_path / "x.orsrec"
    recording.write_bytes(b"")
    done = orstream_cli("replay", str(recording), "--igtl", str(free_port()))
    assert done.returncode == 2 and "PLUS sequences" in done.stderr
    broken = tmp_path / "broken.igs.mha"
    broken.write_bytes(path.read_bytes()[:-20])
    done = orstream_cli("replay", str(broken), "--igtl", str(free_port()))
    assert done.returncode == 2 and "broken.igs.mha: truncated" in done.stderr


def test_doctor_reports_the_crc_extension() -> None:
    done = orstream_cli("doctor", "--json")
    report = json.loads(done.stdout)
    assert report["igtl_crc_extension"] is True
    assert report["components"]["pyigtl"]["ok"]
