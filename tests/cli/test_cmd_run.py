"""``orstream run``: the engine on a live ZeroMQ source or a recording, with its summary."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from orstream.stream import RecordingReader, RecordingWriter, ZmqFrameSender, make_frame
from tests._helpers import FAILURE_BOUND_S, orstream_cli, recorded_frames, wait_until


def _run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orstream", "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_recording_source_is_processed_in_order_with_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "in.orsrec"
    with RecordingWriter(path) as writer:
        for seq in range(30):
            writer.append(make_frame(np.full((32, 48), seq, np.uint8), "rec", seq))
    process = _run("--source", f"file:{path}", "--json", "--quiet")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    summary = json.loads(out)
    assert summary["paths"]["process"]["frames"] == 30
    assert summary["paths"]["process"]["drops"] == {"stale": 0}


def test_live_source_with_recording_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    sock = tmp_path / "feed.sock"
    recording = tmp_path / "out.orsrec"
    engine = _run("--source", f"zmq+ipc://{sock}?bind=1&pattern=pull", "--record",
                  str(recording), "--json", "--quiet")  # fmt: skip
    try:
        # the engine binds when it is ready; a push before would drop
        wait_until(lambda: sock.exists() or engine.poll() is not None, FAILURE_BOUND_S * 3)
        assert engine.poll() is None, "the engine ended before it bound"
        sender = ZmqFrameSender(f"zmq+ipc://{sock}", pattern="push")
        try:
            for seq in range(50):  # a burst: PUSH blocks while the engine is behind
                sender.send(make_frame(np.full((64, 64), seq, np.uint8), "live", seq))
            # SIGTERM once every frame is in the recording. The sender stays connected until
            # then: frames still in flight when a PUSH disconnects are dropped past the
            # receiver's queue (the engine's source queues LIVE_HWM = 16, even on PULL).
            wait_until(lambda: recorded_frames(recording) >= 50, FAILURE_BOUND_S * 3)
        finally:
            sender.close()
    finally:
        engine.send_signal(signal.SIGTERM)
    out, err = engine.communicate(timeout=30)
    assert engine.returncode == 0, err
    summary = json.loads(out)
    assert summary["paths"]["record"]["frames"] == 50
    assert summary["source"]["received"] == 50 and summary["source"]["malformed"] == 0
    with RecordingReader(recording) as reader:
        assert [frame.seq for frame in reader] == list(range(50))


def test_unsupported_or_bad_sources_get_one_line() -> None:
    for source in (
        "rtsp://127.0.0.1:8554",
        "webrtc://127.0.0.1:1?nokey=1",
        "zmq+tcp://nohost",
        "file:/does/not/exist",
    ):
        process = _run("--source", source)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 2, (source, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_workers_that_cannot_apply_fail_with_one_line(tmp_path: Path) -> None:
    recording = tmp_path / "x.orsrec"
    with RecordingWriter(recording) as writer:
        writer.append(make_frame(np.zeros((8, 8), np.uint8), "rec", 0))
    for args, words in (
        (["--source", "zmq+tcp://127.0.0.1:5999", "--workers", "0"], "'0' must be >= 1"),
        (["--source", f"file:{recording}", "--workers", "2"], "live source"),
        (["--source", "sim:echo", "--pipeline", "cardiac"], "invalid choice"),
        (["--source", "sim:heart"], "unknown modality 'heart'"),
        (["--source", "sim:echo?speed=2"], "unknown option(s) ['speed']"),
        (["--source", "sim:echo", "--duration", "-1"], "'-1' must be a number > 0"),
        (["--source", "sim:echo", "--frames", "0"], "'0' must be >= 1"),
    ):
        result = orstream_cli("run", *args, timeout=60)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
