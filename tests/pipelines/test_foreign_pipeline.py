"""Acceptance: a live pipeline fed by a sender written from the wire spec alone gives, for
every frame it processed, the same result as the offline command on the same frames."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import cv2

from tests._helpers import orstream_cli, wait_until

PNG_SENDER = Path(__file__).resolve().parents[1] / "foreign" / "wire_v1_png_sender.py"
FRAMES = 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_us_pipeline_on_a_foreign_feed_matches_segment(tmp_path: Path) -> None:
    exported = orstream_cli(
        "sim", "export", "--modality", "us", "--frames", str(FRAMES), "--seed", "6",
        "--out", str(tmp_path / "clip"), "--json",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    spacing = json.loads((tmp_path / "clip" / "truth.json").read_text())["spacing_mm"][0]
    frames = tmp_path / "clip" / "frames"
    offline = orstream_cli(
        "segment", str(frames), "--model", "us-needle", "--masks-out", str(tmp_path / "masks")
    )
    assert offline.returncode == 0, offline.stderr

    port = _free_port()
    results = tmp_path / "live.jsonl"
    engine = subprocess.Popen(
        [sys.executable, "-m", "orstream", "run", "--pipeline", "us", "--quiet", "--json",
         "--source", f"zmq+tcp://127.0.0.1:{port}?bind=1&pattern=pull",
         "--results", str(results)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert engine.stderr is not None
        for line in engine.stderr:  # the sender starts once the engine takes frames
            if "taking frames" in line:
                break
        subprocess.run(
            [sys.executable, str(PNG_SENDER), "--connect", f"tcp://127.0.0.1:{port}",
             "--frames", str(frames), "--fps", "10", "--spacing-mm", str(spacing)],
            check=True, timeout=120,
        )  # fmt: skip

        def settled() -> bool:  # the last frame in: its line written, or it was stale
            lines = results.read_text().splitlines() if results.exists() else []
            return any(json.loads(line)["seq"] == FRAMES - 1 for line in lines)

        wait_until(settled, timeout_s=60)
    finally:
        engine.send_signal(signal.SIGINT)
        out, err = engine.communicate(timeout=60)
    assert engine.returncode == 0, err
    summary = json.loads(out)
    live = summary["paths"]["live"]
    assert summary["source"]["received"] == FRAMES and summary["source"]["malformed"] == 0
    assert live["frames"] + live["drops"].get("stale", 0) == FRAMES
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) == live["frames"] >= FRAMES // 2
    for row in rows:
        mask = cv2.imread(str(tmp_path / "masks" / f"{row['seq']:04d}.png"), cv2.IMREAD_UNCHANGED)
        needle = row["results"]["us"]["needle"]
        assert abs(needle["pixels"]["needle"] - int((mask == 1).sum())) <= 2
        assert needle["area_mm2"]["needle"] == round(needle["pixels"]["needle"] * spacing**2, 2)
