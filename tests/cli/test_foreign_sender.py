"""Acceptance: frames of a sender written from docs/wire-protocol.md alone (none of our code),
recorded by ``orstream record`` and sent back by ``orstream replay``, arrive bit-exact with
their headers, seq and capture times preserved."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import zmq

from tests._helpers import FAILURE_BOUND_S, recorded_frames, wait_until

FOREIGN_SENDER = Path(__file__).resolve().parents[1] / "foreign" / "wire_v1_sender.py"


def _orstream(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orstream", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _bound_endpoint(process: subprocess.Popen[str]) -> str:
    """The address `orstream record` prints once its socket is bound."""
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"(tcp://127\.0\.0\.1:\d+)", line)
        if found:
            return found.group(1)
    raise AssertionError("orstream record did not report its endpoint")


def test_foreign_sender_record_replay_round_trip_is_bit_exact(tmp_path: Path) -> None:
    recording = tmp_path / "foreign.orsrec"
    manifest = tmp_path / "sent.json"
    recorder = _orstream(
        "record", "--source", "zmq+tcp://127.0.0.1:0?bind=1", "--out", str(recording), "--json"
    )
    endpoint = _bound_endpoint(recorder)
    subprocess.run(
        [
            sys.executable,
            str(FOREIGN_SENDER),
            "--connect",
            endpoint,
            "--frames",
            "40",
            "--manifest",
            str(manifest),
        ],
        check=True,
        timeout=60,
    )
    try:  # stop the recorder by a signal, as a user would, once all 40 are in its file
        wait_until(lambda: recorded_frames(recording) >= 40, FAILURE_BOUND_S * 3)
    finally:
        recorder.send_signal(signal.SIGINT)
    out, err = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, err
    summary = json.loads(out)
    assert summary["frames"] == 40 and summary["stopped_by"] == "signal"
    assert summary["malformed"] == 0
    sent = json.loads(manifest.read_text())

    context = zmq.Context()
    receiver = context.socket(zmq.PULL)
    port = receiver.bind_to_random_port("tcp://127.0.0.1")
    replay = _orstream("replay", str(recording), "--to", f"zmq+tcp://127.0.0.1:{port}", "--fast")
    received = []
    for _ in sent:
        assert receiver.poll(30_000), "replay stopped sending"
        received.append(receiver.recv_multipart())
    _, err = replay.communicate(timeout=60)
    assert replay.returncode == 0, err
    receiver.close()
    context.term()

    for (header, payload), expected in zip(received, sent, strict=True):
        assert header.decode("utf-8") == expected["header"], "header bytes preserved verbatim"
        assert hashlib.sha256(payload).hexdigest() == expected["sha256"], "pixels bit-exact"
    seqs = [json.loads(h)["seq"] for h, _ in received]
    assert seqs == list(range(40))
    times = [json.loads(h)["t_capture_ns"] for h, _ in received]
    assert times == [json.loads(e["header"])["t_capture_ns"] for e in sent]
