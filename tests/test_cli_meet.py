"""Commands that talk to each other meet at their defaults (``sim publish`` and ``replay`` ->
``run`` and ``record``), and a receiver that gets nothing says once what is likely missing."""

from __future__ import annotations

import json
import logging
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from orstream.cli import build_parser
from orstream.cli._argtypes import DEFAULT_ENDPOINT, default_pattern
from orstream.cli._errors import no_frames_hint, warn_if_no_frames
from orstream.stream import RecordingReader, RecordingWriter, make_frame, parse_endpoint
from tests._helpers import FAILURE_BOUND_S

HINT = re.compile(r"no frames (from|on) \S+ after 3 s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _on_port(uri: str, port: int) -> str:
    """``uri`` (a default) with its port replaced: the default's shape, on a free port."""
    return re.sub(r":5555\b", f":{port}", uri)


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orstream", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_line(process: subprocess.Popen[str], pattern: str) -> str:
    """The first stderr line of ``process`` matching ``pattern`` (fails after the bound)."""
    assert process.stderr is not None
    deadline = time.monotonic() + FAILURE_BOUND_S * 3
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 1.0)
        line = process.stderr.readline() if ready else ""
        if re.search(pattern, line):
            return line
        if ready and not line:
            break  # the process ended
    process.kill()
    pytest.fail(f"no stderr line matching {pattern!r}")


def _defaults(*argv: str) -> dict[str, object]:
    return vars(build_parser().parse_args(list(argv)))


def _replay_default(port: int) -> str:
    return _on_port(str(_defaults("replay", "x")["endpoint"]), port)


def _record_default(port: int) -> str:
    return _on_port(str(_defaults("record", "--out", "x")["source"]), port)


def test_senders_bind_and_record_connects_at_the_one_default_endpoint() -> None:
    address = parse_endpoint(DEFAULT_ENDPOINT).address
    publish = str(_defaults("sim", "publish")["endpoint"])
    replay = str(_defaults("replay", "x.orsrec")["endpoint"])
    record = str(_defaults("record", "--out", "x.orsrec")["source"])
    for sender in (publish, replay):
        assert parse_endpoint(sender).address == address and parse_endpoint(sender).bind
        assert default_pattern(sender, sending=True) == "pub"
    assert parse_endpoint(record).address == address and not parse_endpoint(record).bind
    assert default_pattern(record, sending=False) == "sub"


def test_run_connects_where_the_senders_bind_by_default() -> None:
    source = str(_defaults("run")["source"])
    endpoint = parse_endpoint(source)
    assert endpoint.address == parse_endpoint(DEFAULT_ENDPOINT).address and not endpoint.bind
    assert endpoint.pattern in (None, "sub")


def test_patterns_follow_who_binds_so_any_one_binding_side_meets_the_other() -> None:
    for uri, sending, pattern in [
        ("zmq+tcp://127.0.0.1:1?bind=1", True, "pub"),
        ("zmq+tcp://127.0.0.1:1", False, "sub"),
        ("zmq+tcp://127.0.0.1:1", True, "push"),
        ("zmq+tcp://*:1", False, "pull"),
        ("zmq+ipc:///tmp/x?pattern=push", False, "push"),  # named: kept (and refused later)
    ]:
        assert default_pattern(uri, sending=sending) == pattern


def _recording(path: Path, n: int) -> list[bytes]:
    with RecordingWriter(path) as writer:
        for seq in range(n):
            pixels = np.full((24, 32), seq, np.uint8)
            writer.append(make_frame(pixels, "probe", seq, t_capture_ns=10**18 + seq * 10**6))
    with RecordingReader(path) as reader:
        return [bytes(m.payload) for m in reader.messages()]


@pytest.mark.parametrize("receiver_first", [False, True])
def test_replay_to_record_at_the_defaults_loses_nothing(
    tmp_path: Path, receiver_first: bool
) -> None:
    """Replay binds and publishes, record connects and subscribes; whichever starts first,
    replay waits for the recorder, and every frame arrives."""
    port, n = _free_port(), 200
    sent = _recording(tmp_path / "in.orsrec", n)
    replay_args = ["replay", str(tmp_path / "in.orsrec"), "--fast", "--json",
                   "--endpoint", _replay_default(port)]  # fmt: skip
    record_args = ["record", "--out", str(tmp_path / "out.orsrec"), "--frames", str(n), "--json",
                   "--source", _record_default(port)]  # fmt: skip
    if receiver_first:
        recorder = _spawn(*record_args)
        _wait_for_line(recorder, "orstream record: sub ")
        replay = _spawn(*replay_args)
    else:
        replay = _spawn(*replay_args)
        _wait_for_line(replay, "waiting for a receiver")
        recorder = _spawn(*record_args)
    try:
        record_out, record_err = recorder.communicate(timeout=FAILURE_BOUND_S * 6)
        replay_out, replay_err = replay.communicate(timeout=FAILURE_BOUND_S * 6)
    finally:
        for process in (recorder, replay):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert recorder.returncode == 0 and replay.returncode == 0, record_err + replay_err
    replayed, recorded = json.loads(replay_out), json.loads(record_out)
    assert replayed["pattern"] == "pub" and replayed["complete"] and replayed["frames"] == n
    assert recorded["pattern"] == "sub" and recorded["frames"] == n and recorded["gaps"] == 0
    with RecordingReader(tmp_path / "out.orsrec") as reader:
        assert [bytes(m.payload) for m in reader.messages()] == sent


def test_replay_meets_run_at_the_default_shape(tmp_path: Path) -> None:
    port = _free_port()
    _recording(tmp_path / "in.orsrec", 50)
    engine = _spawn("run", "--source", _on_port(DEFAULT_ENDPOINT, port), "--frames", "1",
                    "--quiet", "--json")  # fmt: skip
    replay = _spawn("replay", str(tmp_path / "in.orsrec"), "--json",
                    "--endpoint", _replay_default(port))  # fmt: skip
    try:
        out, err = engine.communicate(timeout=FAILURE_BOUND_S * 6)
        replay.send_signal(signal.SIGINT)
        replay.communicate(timeout=FAILURE_BOUND_S * 6)
    finally:
        for process in (engine, replay):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert engine.returncode == 0, err
    assert json.loads(out)["source"]["received"] >= 1


def test_the_hint_names_the_sender_to_start_and_the_pattern_to_use() -> None:
    connect = no_frames_hint("zmq+tcp://127.0.0.1:5555", "sub")
    assert connect.startswith("no frames from zmq+tcp://127.0.0.1:5555 after 3 s: ")
    assert "orstream sim publish --endpoint zmq+tcp://127.0.0.1:5555?bind=1" in connect
    assert "?pattern=pull" in connect
    bound = no_frames_hint("zmq+tcp://*:7000", "pull", after_s=5)
    assert bound.startswith("no frames on zmq+tcp://*:7000 after 5 s: ")
    assert "orstream replay PATH --endpoint zmq+tcp://HOST:7000" in bound
    assert "?pattern=sub" in bound
    for hint in (connect, bound):
        assert "\n" not in hint


def test_the_hint_is_logged_once_and_only_when_nothing_came(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="orstream.cli")
    for count in (0, 1):
        timer = warn_if_no_frames("zmq+tcp://127.0.0.1:9", lambda c=count: c, "sub", 0.01)
        timer.join(FAILURE_BOUND_S)
    hints = [r.getMessage() for r in caplog.records if "no frames from" in r.getMessage()]
    assert hints == [no_frames_hint("zmq+tcp://127.0.0.1:9", "sub", 0.01)]
    # cancelled long before it is due (a 10 ms timer could fire before cancel() on a slow
    # machine): the join shows it ended without logging
    cancelled = warn_if_no_frames("zmq+tcp://127.0.0.1:9", lambda: 0, "sub", 3600.0)
    cancelled.cancel()
    cancelled.join(FAILURE_BOUND_S)
    assert not cancelled.is_alive()
    not_a_socket = warn_if_no_frames("file:rec.orsrec", lambda: 0, "sub", 0.01)
    assert not not_a_socket.is_alive()
    not_a_socket.cancel()
    assert len([r for r in caplog.records if "no frames" in r.getMessage()]) == 1


def test_record_with_no_sender_warns_once_on_one_line(tmp_path: Path) -> None:
    port = _free_port()
    recorder = _spawn("record", "--source", _on_port(DEFAULT_ENDPOINT, port),
                      "--out", str(tmp_path / "o.orsrec"))  # fmt: skip
    try:
        _wait_for_line(recorder, HINT.pattern)
        recorder.send_signal(signal.SIGINT)
        _, err = recorder.communicate(timeout=FAILURE_BOUND_S * 3)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.communicate()
    assert recorder.returncode == 0
    assert not HINT.search(err), "the hint came more than once"
    assert "Traceback" not in err
