"""``orstream record`` is lossless on a live feed: while its disk stalls, the simulated device
(``orstream sim publish``, PUB, which never waits for anyone) keeps sending, and every frame
still ends up in the recording, in order."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from orstream.cli import _record, build_parser
from orstream.stream import RecordingReader, RecordingSink
from tests._helpers import FAILURE_BOUND_S, wait_until

FRAMES = 600
"""Ultrasound frames of 64 KiB: 38 MiB sent while the recorder is stalled, more than the
socket buffers between the two processes hold."""


class _StalledDisk(RecordingSink):
    """A recording whose first write blocks until ``release`` is set (a disk that stops)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.seqs: list[int] = []

    def write_parts(self, header: Any, payload: Any) -> None:
        if not self.stalled.is_set():
            self.stalled.set()
            self.release.wait(FAILURE_BOUND_S * 12)
        self.seqs.append(json.loads(bytes(header))["seq"])
        super().write_parts(header, payload)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_a_stalled_recorder_records_every_frame_of_a_pub_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sinks: list[_StalledDisk] = []
    stops: list[threading.Event] = []

    def stalled_disk(*args: Any, **kwargs: Any) -> _StalledDisk:
        sinks.append(_StalledDisk(*args, **kwargs))
        return sinks[-1]

    monkeypatch.setattr(_record, "RecordingSink", stalled_disk)
    idle = threading.Event()  # set when the recorder, released, found nothing more to take
    take = _record._take

    def take_or_idle(*args: Any) -> bool:
        taken = take(*args)
        if not taken and sinks and sinks[0].release.is_set():
            idle.set()
        return taken

    monkeypatch.setattr(_record, "_take", take_or_idle)
    monkeypatch.setattr(_record, "install_stop_signals", stops.append)  # stopped by the test
    port = _free_port()
    out = tmp_path / "feed.orsrec"
    # the recorder as a user starts it: --source in the default's shape (connect, no pattern)
    args = build_parser().parse_args(
        ["record", "--source", f"zmq+tcp://127.0.0.1:{port}", "--out", str(out), "--json"]
    )
    codes: list[int] = []
    recorder = threading.Thread(target=lambda: codes.append(_record.run_record(args)))
    recorder.start()
    device = subprocess.Popen(
        [sys.executable, "-m", "orstream", "sim", "publish", "--modality", "us",
         "--endpoint", f"zmq+tcp://127.0.0.1:{port}?bind=1",
         "--truth-endpoint", "zmq+tcp://127.0.0.1:0?bind=1",
         "--frames", str(FRAMES), "--fps", "500", "--warmup", "2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: bool(sinks) and sinks[0].stalled.is_set(), FAILURE_BOUND_S * 6)
        sent, err = device.communicate(timeout=FAILURE_BOUND_S * 12)  # every frame is out
        assert device.returncode == 0, err
        assert json.loads(sent)["frames"] == FRAMES
    finally:
        if sinks:
            sinks[0].release.set()
        if device.poll() is None:
            device.kill()
            device.communicate()
    disk = sinks[0]

    try:  # until the last frame is in, or the recorder has nothing left and it is not
        wait_until(lambda: disk.seqs[-1:] == [FRAMES - 1] or idle.is_set(), FAILURE_BOUND_S * 6)
    finally:
        wait_until(lambda: bool(stops))
        stops[0].set()
        recorder.join(FAILURE_BOUND_S * 6)
    assert codes == [0]
    summary = json.loads(capsys.readouterr().out)
    first = disk.seqs[0]
    assert first < FRAMES // 2, "the subscription came late: the stall covered too little"
    assert disk.seqs == list(range(first, FRAMES))
    assert summary["gaps"] == 0 and summary["frames"] == FRAMES - first
    with RecordingReader(out) as reader:
        assert [frame.seq for frame in reader] == disk.seqs
