"""``orstream record`` is lossless on a live feed: while its disk stalls, the simulated device
(``orstream sim publish``, PUB, which never waits for anyone) keeps sending, and every frame
still ends up in the recording, in order.

Both run as a user starts them, in their own processes. The recorder's disk is made to stall
by a wrapper script that runs ``python -m orstream record ...`` with the public
``RecordingWriter.write_record`` held on its first record until the test releases it; with
``--max-queue-mb 1`` the recorder's memory queue fills at once, so receiving itself waits for
the disk and the frames pile up in the recorder's socket. The wrapper also says when the
recorder, released, finds nothing more to receive (so the test stops it then)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from orstream.stream import RecordingReader
from tests._helpers import FAILURE_BOUND_S, free_port, orstream_spawn, stderr_line, wait_until

FRAMES = 600
"""Ultrasound frames of 64 KiB: 38 MiB sent while the recorder is stalled, more than the
socket buffers between the two processes hold."""

STALLED_DISK = '''"""python STALLED_DISK STALLED RELEASE IDLE BOUND_S ARGS...: ``python -m orstream
ARGS`` whose recording disk stops at the first record (STALLED is created then) until RELEASE
exists; IDLE is created when, released, the recorder found nothing more to receive."""
import runpy
import sys
import time
from pathlib import Path

from orstream.stream import RecordingWriter, ZmqFrameSource

stalled, release, idle = (Path(arg) for arg in sys.argv[1:4])
bound_s = float(sys.argv[4])
write_record, recv_message = RecordingWriter.write_record, ZmqFrameSource.recv_message


def stalled_write_record(self, header, payload):
    if not stalled.exists():
        stalled.touch()
        deadline = time.monotonic() + bound_s
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    write_record(self, header, payload)


def recv_or_idle(self, timeout_s):
    received = recv_message(self, timeout_s)
    if received is None and release.exists():
        idle.touch()
    return received


RecordingWriter.write_record = stalled_write_record
ZmqFrameSource.recv_message = recv_or_idle
sys.argv = ["orstream", *sys.argv[5:]]
runpy.run_module("orstream", run_name="__main__", alter_sys=True)
'''


def _stall_while_the_device_sends(
    recorder: subprocess.Popen[str], port: int, stalled: Path
) -> None:
    """Start the device once the recorder subscribes; return when the recorder's disk has
    stalled and the device has sent every frame."""
    stderr_line(recorder, r"^orstream record: sub ")  # connected and subscribing
    device = orstream_spawn(
        "sim", "publish", "--modality", "us",
        "--endpoint", f"zmq+tcp://127.0.0.1:{port}?bind=1",
        "--truth-endpoint", "zmq+tcp://127.0.0.1:0?bind=1",
        "--frames", str(FRAMES), "--fps", "500", "--warmup", "2", "--json",
    )  # fmt: skip
    try:
        wait_until(stalled.exists, FAILURE_BOUND_S * 6)
        sent, err = device.communicate(timeout=FAILURE_BOUND_S * 12)  # every frame is out
    finally:
        if device.poll() is None:
            device.kill()
            device.communicate()
    assert device.returncode == 0, err
    assert json.loads(sent)["frames"] == FRAMES


@pytest.mark.slow
def test_a_stalled_recorder_records_every_frame_of_a_pub_feed(tmp_path: Path) -> None:
    script, out = tmp_path / "stalled_disk.py", tmp_path / "feed.orsrec"
    stalled, release, idle = tmp_path / "stalled", tmp_path / "release", tmp_path / "idle"
    script.write_text(STALLED_DISK)
    port = free_port()
    # the recorder as a user starts it: --source in the default's shape (connect, no pattern)
    recorder = orstream_spawn(
        "record", "--source", f"zmq+tcp://127.0.0.1:{port}", "--out", str(out),
        "--max-queue-mb", "1", "--json",
        python_args=(str(script), *map(str, (stalled, release, idle, FAILURE_BOUND_S * 12))),
    )  # fmt: skip
    try:
        _stall_while_the_device_sends(recorder, port, stalled)
        release.touch()
        # until the recorder, released, has nothing more to take (or ended: it should not)
        wait_until(lambda: idle.exists() or recorder.poll() is not None, FAILURE_BOUND_S * 6)
        recorder.send_signal(signal.SIGINT)  # stopped as a user stops it
        stdout, stderr = recorder.communicate(timeout=FAILURE_BOUND_S * 6)
    finally:
        release.touch()
        if recorder.poll() is None:
            recorder.kill()
            recorder.communicate()
    assert recorder.returncode == 0, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    with RecordingReader(out) as reader:
        recorded = [frame.seq for frame in reader]
    first = recorded[0]
    assert first < FRAMES // 2, "the subscription came late: the stall covered too little"
    assert recorded == list(range(first, FRAMES))
    assert summary["gaps"] == 0 and summary["frames"] == FRAMES - first
    assert summary["stopped_by"] == "signal" and summary["lost"] == 0
    assert summary["blocked_s"] > 0, "receiving never waited for the disk: no stall was tested"
