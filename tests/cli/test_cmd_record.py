"""``orstream record`` and ``orstream replay`` end to end, in subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zmq

from orstream.stream import (
    Frame,
    RecordingReader,
    RecordingWriter,
    ZmqFrameSender,
    decode,
    encode_header,
    make_frame,
    shm_available,
)
from tests._helpers import orstream_main, orstream_spawn, stderr_line

TIMEOUT_S = 60

Spawn = Callable[..., subprocess.Popen[str]]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "orstream", *args]


def _frames(n: int) -> list[Frame]:
    shapes = [((6, 8), np.uint8), ((5, 4, 3), np.uint8), ((4, 4), np.uint16), ((3, 5), np.float32)]
    frames = []
    for i in range(n):
        shape, dtype = shapes[i % len(shapes)]
        pixels = (np.arange(int(np.prod(shape))) * (i + 3)).astype(dtype).reshape(shape)
        frames.append(
            make_frame(
                pixels,
                "probe",
                500 + i,
                t_capture_ns=10**18 + i * 10**7,
                spacing_mm=(0.2, 0.2),
                meta={"i": i},
            )
        )
    return frames


def _assert_bit_exact(sent: list[Frame], got: list[Frame]) -> None:
    assert len(got) == len(sent)
    for a, b in zip(sent, got, strict=True):
        assert (b.stream_id, b.seq, b.t_capture_ns, dict(b.meta)) == (
            a.stream_id,
            a.seq,
            a.t_capture_ns,
            dict(a.meta),
        )
        assert b.pixels.dtype == a.pixels.dtype and b.pixels.shape == a.pixels.shape
        assert b.pixels.tobytes() == a.pixels.tobytes()


def _summary(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary: dict[str, object] = json.loads(out)
    return summary


def _write_recording(path: Path, frames: list[Frame]) -> Path:
    with RecordingWriter(path) as writer:
        for frame in frames:
            writer.append(frame)
    return path


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Starts ``orstream ARGS`` in the background (pipes, text); a command still running when
    the test ends (a failed test) is killed, so none outlives it."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        started.append(orstream_spawn(*args))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@contextmanager
def _recorder_behind_a_sender(
    spawn: Spawn, endpoint: str, out: Path, *args: str
) -> Iterator[tuple[ZmqFrameSender, subprocess.Popen[str]]]:
    """A PUSH sender bound at ``endpoint`` (``zmq+ipc://PATH``, ``zmq+tcp://127.0.0.1:0``) and
    ``orstream record --source <it> --out OUT --json ARGS`` started after it: the sender's sends
    block until the late recorder has connected, and fail after TIMEOUT_S instead of hanging if
    it never does. On leaving, the sender closes, lingering until its queued frames are out."""
    sender = ZmqFrameSender(f"{endpoint}?bind=1", pattern="push")
    sender.socket.sndtimeo = TIMEOUT_S * 1000
    source = f"zmq+{sender.last_endpoint}?pattern=pull"
    try:
        yield sender, spawn("record", "--source", source, "--out", str(out), "--json", *args)
    finally:
        sender.close()


@contextmanager
def _receiver(address: str) -> Iterator[zmq.Socket[bytes]]:
    """A PULL socket bound at ``address`` (``tcp://127.0.0.1:*``: a free port), closed after."""
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    try:
        pull.bind(address)
        yield pull
    finally:
        pull.close(0)
        context.term()


@contextmanager
def _replay_to_a_late_receiver(
    spawn: Spawn, recording: Path, feed: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[str], zmq.Socket[bytes]]]:
    """``orstream replay RECORDING --to zmq+ipc://FEED --json ARGS`` started with nobody
    listening; the receiver binds only once the replay says it is waiting for one."""
    proc = spawn("replay", str(recording), "--to", f"zmq+ipc://{feed}", "--json", *args)
    stderr_line(proc, "waiting for a receiver", TIMEOUT_S)
    with _receiver(f"ipc://{feed}") as pull:
        yield proc, pull


def test_record_until_sigint_keeps_every_frame(tmp_path: Path, spawn: Spawn) -> None:
    out = tmp_path / "rec.orsrec"
    frames = _frames(40)
    feed = f"zmq+ipc://{tmp_path / 'feed.ipc'}"
    with _recorder_behind_a_sender(spawn, feed, out) as (sender, proc):
        for frame in frames:
            sender.send(frame)  # blocks until the recorder has connected
    proc.send_signal(signal.SIGINT)
    summary = _summary(proc)
    assert summary["frames"] == 40 and summary["stopped_by"] == "signal"
    assert summary["malformed"] == 0 and summary["gaps"] == 0
    with RecordingReader(out) as reader:
        _assert_bit_exact(frames, list(reader))
        assert [m.header for m in reader.messages()] == [encode_header(f) for f in frames]
        assert reader.tail_bytes == 0


def test_record_counts_malformed_and_gaps_and_stops_after_n_frames(
    tmp_path: Path, spawn: Spawn
) -> None:
    out = tmp_path / "rec.orsrec"
    frames = [f for f in _frames(6) if f.seq != 502]  # one frame lost upstream: a gap
    feed = "zmq+tcp://127.0.0.1:0"
    with _recorder_behind_a_sender(spawn, feed, out, "--frames", "5") as (sender, proc):
        sender.send(frames[0])
        sender.send_parts([b"not json", b"\x00"])
        sender.send_parts([b"{}", b"\x00", b"extra part"])
        for frame in frames[1:]:
            sender.send(frame)
    summary = _summary(proc)
    assert summary["frames"] == 5 and summary["stopped_by"] == "frames"
    assert summary["malformed_by_kind"] == {"json": 1, "parts": 1}
    assert summary["gaps"] == 1
    with RecordingReader(out) as reader:
        _assert_bit_exact(frames, list(reader))


def test_replay_fast_sends_the_recorded_bytes_unchanged(tmp_path: Path, spawn: Spawn) -> None:
    frames = _frames(30)
    path = _write_recording(tmp_path / "rec.orsrec", frames)
    with _receiver("tcp://127.0.0.1:*") as pull:
        port = pull.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1]
        proc = spawn("replay", str(path), "--to", f"zmq+tcp://127.0.0.1:{port}", "--fast", "--json")
        assert pull.poll(TIMEOUT_S * 1000)
        messages = [pull.recv_multipart() for _ in frames]
        summary = _summary(proc)
    assert summary["frames"] == 30 and summary["complete"] is True
    with RecordingReader(path) as reader:
        stored = [[m.header, bytes(m.payload)] for m in reader.messages()]
    assert messages == stored
    _assert_bit_exact(frames, [decode(m) for m in messages])


def _frames_gap_apart(gap_s: float) -> list[Frame]:
    """4 frames captured ``gap_s`` apart (pixels = seq): 3 gaps from the first to the last."""
    return [
        make_frame(np.full((2, 2), i, np.uint8), "s", i, t_capture_ns=i * round(gap_s * 1e9))
        for i in range(4)
    ]


def test_replay_realtime_keeps_the_original_timing(tmp_path: Path, spawn: Spawn) -> None:
    gap_s = 0.25
    path = _write_recording(tmp_path / "rec.orsrec", _frames_gap_apart(gap_s))
    feed = tmp_path / "out.ipc"
    with _receiver(f"ipc://{feed}") as pull:
        proc = spawn("replay", str(path), "--to", f"zmq+ipc://{feed}", "--json")
        arrivals, got = [], []
        for _ in range(4):
            assert pull.poll(TIMEOUT_S * 1000)
            got.append(decode(pull.recv_multipart()))
            arrivals.append(time.monotonic())
        summary = _summary(proc)
    assert summary["timing"] == "realtime" and summary["frames"] == 4
    assert [(f.seq, int(f.pixels[0, 0])) for f in got] == [(i, i) for i in range(4)]
    # Frame k leaves no earlier than k gaps after frame 0 did, and the replay's own run
    # spans at least the recorded 750 ms: neither bound can be broken by a slow machine.
    assert summary["duration_s"] >= 3 * gap_s
    # What the receiver sees: only the lateness of the test's own first receive can shorten
    # this span, so the bound leaves one whole gap for it (an upper bound is never checked).
    assert arrivals[-1] - arrivals[0] >= 2 * gap_s


def test_replay_realtime_keeps_the_original_timing_for_a_late_receiver(
    tmp_path: Path, spawn: Spawn
) -> None:
    gap_s = 0.25
    path = _write_recording(tmp_path / "rec.orsrec", _frames_gap_apart(gap_s))
    with _replay_to_a_late_receiver(spawn, path, tmp_path / "late.ipc") as (proc, pull):
        arrivals = []
        for _ in range(4):
            assert pull.poll(TIMEOUT_S * 1000)
            pull.recv_multipart()
            arrivals.append(time.monotonic())
        summary = _summary(proc)
    assert summary["frames"] == 4
    assert arrivals[-1] - arrivals[0] >= 2 * gap_s  # 750 ms recorded; one gap of slack


def test_replay_waits_for_a_late_receiver_and_loses_nothing(tmp_path: Path, spawn: Spawn) -> None:
    frames = _frames(10)
    path = _write_recording(tmp_path / "rec.orsrec", frames)
    feed = tmp_path / "late.ipc"
    # the replay says it is waiting, and sends nothing yet; then the receiver binds
    with _replay_to_a_late_receiver(spawn, path, feed, "--fast") as (proc, pull):
        assert pull.poll(TIMEOUT_S * 1000)
        got = [decode(pull.recv_multipart()) for _ in frames]
        summary = _summary(proc)
    assert summary["frames"] == 10 and summary["complete"] is True
    _assert_bit_exact(frames, got)


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["replay", "{tmp}/missing.orsrec", "--to", "zmq+tcp://127.0.0.1:9"], "not found"),
        (["replay", "{tmp}/text.txt", "--to", "zmq+tcp://127.0.0.1:9"], "not an orstream rec"),
        (["replay", "{tmp}/text.txt", "--to", "udp://x:1"], "scheme must be"),
        (["replay", "{tmp}/x", "--to", "zmq+tcp://h:1", "--fast", "--realtime"], "not allowed"),
        (["record", "--source", "webrtc://h:1", "--out", "{tmp}/o"], "not supported by record yet"),
        (["record", "--source", "sim:echo", "--out", "{tmp}/o"], "not supported by record"),
        (["record", "--source", "zmq+tcp://h:1", "--out", "{tmp}/text.txt"], "--overwrite"),
        (["record", "--source", "zmq+tcp://h:1", "--out", "{tmp}/o", "--frames", "0"], ">= 1"),
        (["record", "--source", "zmq+tcp://h:1?pattern=push", "--out", "{tmp}/o"], "pull"),
        (["record", "--out", "{tmp}/o", "--duration", "-1"], "must be a number > 0"),
        (["record", "--out", "{tmp}/o", "--frames", "-5"], ">= 1"),
        (["record", "--out", "{tmp}/o", "--max-queue-mb", "0"], "must be a number > 0"),
        (["record", "--source", "zmq+tcp://h:1"], "--out"),
        (["replay", "{tmp}/text.txt", "--endpoint", "zmq+tcp://h:x"], "expected zmq+tcp://"),
    ],
)
def test_bad_arguments_give_one_line_and_a_nonzero_exit(
    tmp_path: Path, args: list[str], expect: str
) -> None:
    (tmp_path / "text.txt").write_text("not a recording\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = subprocess.run(
        _cli(*argv), capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], result.stderr
    assert not (tmp_path / "o").exists()
    assert (tmp_path / "text.txt").read_text() == "not a recording\n"


@pytest.mark.parametrize(
    "uri", ["webrtc://h:1", "igtl://h:1", "dicom:/x.dcm", "plus:/x.igs.mha", "file:/x", "sim:us"]
)
def test_record_names_the_sources_it_does_not_support_yet(
    tmp_path: Path, uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orstream_main("record", "--source", uri, "--out", str(tmp_path / "o")) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not supported by record yet" in lines[0], lines
    assert uri in lines[0]
    assert not (tmp_path / "o").exists()


def test_record_stores_the_pixels_of_a_shared_memory_feed(tmp_path: Path) -> None:
    """A live shm feed names ring slots; the recording must hold the pixels themselves."""
    if not shm_available():
        pytest.skip("needs /dev/shm (Linux)")
    out = tmp_path / "shm.orsrec"
    sender = ZmqFrameSender("zmq+tcp://127.0.0.1:0?bind=1&shm=1", pattern="pub", hwm=100)
    record = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orstream",
            "record",
            "--source",
            f"zmq+{sender.last_endpoint}?pattern=sub",
            "--out",
            str(out),
            "--frames",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    images = [np.full((512, 1024), i, np.uint8) for i in range(200)]
    seq = 0
    deadline = time.monotonic() + TIMEOUT_S
    try:  # PUB: a device at 20 fps, sending until the recorder has its 5 frames
        while record.poll() is None:
            assert time.monotonic() < deadline, "the recorder never got 5 frames"
            sender.send(make_frame(images[seq % len(images)], "s", seq))
            seq += 1
            time.sleep(0.05)
    finally:
        if record.poll() is None:
            record.kill()
        record.communicate(timeout=30)
        sender.close()
    assert record.returncode == 0
    with RecordingReader(out) as reader:
        frames = list(reader)
    assert len(frames) == 5
    assert all(np.array_equal(f.pixels, images[f.seq % len(images)]) for f in frames)
