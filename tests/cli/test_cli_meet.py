"""Commands that talk to each other meet at their defaults (``sim publish`` and ``replay`` ->
``run`` and ``record``), and a receiver that gets nothing says once what is likely missing.

Every command runs as a user runs it, ``python -m orstream ...`` in its own process. Defaults
are observed by what they do: a sender and a receiver started with no endpoint flags meet and
frames flow. Those tests take the default feed (loopback port 5555, and 5556 for the simulator's
truth channel) and skip, saying so, where another program holds it."""

from __future__ import annotations

import errno
import json
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from orstream.stream import (
    RecordingReader,
    RecordingWriter,
    default_pattern,
    make_frame,
    parse_endpoint,
)
from tests._helpers import FAILURE_BOUND_S, free_port, orstream_spawn, stderr_line

HINT_DELAY_S = 3
"""How long a receiver waits for its first message before the hint (the hint says so)."""
HINT = re.compile(rf"no frames (from|on) \S+ after {HINT_DELAY_S} s")
DEFAULT_PORTS = (5555, 5556)
"""The default feed's port (``orstream run --help``) and the simulator's truth port (+1)."""


@pytest.fixture
def default_feed() -> None:
    """Skip (saying why) when another program holds the default feed's ports on loopback."""
    for port in DEFAULT_PORTS:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as libzmq binds
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                pytest.skip(f"another program holds 127.0.0.1:{port}, a default of orstream")


def _finish(*processes: subprocess.Popen[str]) -> Iterator[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each process, in order, once it has ended by itself."""
    for process in processes:
        out, err = process.communicate(timeout=FAILURE_BOUND_S * 6)
        yield process.returncode, out, err


def _kill(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _recording(path: Path, n: int) -> list[bytes]:
    with RecordingWriter(path) as writer:
        for seq in range(n):
            pixels = np.full((24, 32), seq, np.uint8)
            writer.append(make_frame(pixels, "probe", seq, t_capture_ns=10**18 + seq * 10**6))
    with RecordingReader(path) as reader:
        return [bytes(m.payload) for m in reader.messages()]


@pytest.mark.usefixtures("default_feed")
@pytest.mark.parametrize("receiver_first", [False, True])
def test_replay_to_record_at_the_defaults_loses_nothing(
    tmp_path: Path, receiver_first: bool
) -> None:
    """Replay binds and publishes, record connects and subscribes, both on loopback with no
    endpoint flag; whichever starts first, replay waits for the recorder, every frame arrives."""
    n = 200
    sent = _recording(tmp_path / "in.orsrec", n)
    replay_args = ["replay", str(tmp_path / "in.orsrec"), "--fast", "--json"]
    record_args = ["record", "--out", str(tmp_path / "out.orsrec"), "--frames", str(n), "--json"]
    first = orstream_spawn(*(record_args if receiver_first else replay_args))
    processes = [first]
    try:
        stderr_line(first, "orstream record: sub " if receiver_first else "waiting for a receiver")
        processes.append(orstream_spawn(*(replay_args if receiver_first else record_args)))
        recorder, replay = processes if receiver_first else processes[::-1]
        (record_code, record_out, record_err), (replay_code, replay_out, replay_err) = _finish(
            recorder, replay
        )
    finally:
        _kill(*processes)
    assert record_code == 0 and replay_code == 0, record_err + replay_err
    replayed, recorded = json.loads(replay_out), json.loads(record_out)
    assert replayed["pattern"] == "pub" and replayed["complete"] and replayed["frames"] == n
    assert recorded["pattern"] == "sub" and recorded["frames"] == n and recorded["gaps"] == 0
    sender, receiver = parse_endpoint(replayed["to"]), parse_endpoint(recorded["source"])
    assert sender.bind and not receiver.bind and sender.address == receiver.address
    assert sender.is_loopback_or_ipc  # the default feed never leaves the machine
    with RecordingReader(tmp_path / "out.orsrec") as reader:
        assert [bytes(m.payload) for m in reader.messages()] == sent
    if not receiver_first:  # frames came as soon as it subscribed: no hint that none came
        assert not HINT.search(record_err), record_err


@pytest.mark.usefixtures("default_feed")
def test_sim_publish_feeds_run_and_record_at_the_defaults(tmp_path: Path) -> None:
    """The simulated device binds and publishes, run and record connect and subscribe, none
    with an endpoint flag. The recorder starts once frames flow and runs past the hint's
    delay: a receiver that gets frames is not told that none came."""
    record_args = ["record", "--out", str(tmp_path / "o.orsrec"),
                   "--duration", str(HINT_DELAY_S + 1), "--json"]  # fmt: skip
    device = orstream_spawn("sim", "publish", "--modality", "us", "--fps", "20", "--json")
    processes = [device, orstream_spawn("run", "--frames", "1", "--quiet", "--json")]
    try:
        ((run_code, run_out, run_err),) = _finish(processes[1])  # frames flow now
        processes.append(orstream_spawn(*record_args))
        ((record_code, record_out, record_err),) = _finish(processes[2])
        device.send_signal(signal.SIGINT)
        ((device_code, device_out, device_err),) = _finish(device)
    finally:
        _kill(*processes)
    assert run_code == 0, run_err
    assert json.loads(run_out)["source"]["received"] >= 1
    assert record_code == 0, record_err
    recorded = json.loads(record_out)
    assert recorded["pattern"] == "sub" and recorded["frames"] >= 1
    assert not HINT.search(record_err), record_err
    assert device_code == 0, device_err
    assert json.loads(device_out)["frames"] >= recorded["frames"]
    with RecordingReader(tmp_path / "o.orsrec") as reader:
        assert {frame.modality for frame in reader} == {"us"}


@pytest.mark.usefixtures("default_feed")
def test_replay_meets_run_at_the_defaults(tmp_path: Path) -> None:
    _recording(tmp_path / "in.orsrec", 50)
    engine = orstream_spawn("run", "--frames", "1", "--quiet", "--json")
    replay = orstream_spawn("replay", str(tmp_path / "in.orsrec"), "--json")
    try:
        ((code, out, err),) = _finish(engine)
        replay.send_signal(signal.SIGINT)
        replay.communicate(timeout=FAILURE_BOUND_S * 6)
    finally:
        _kill(engine, replay)
    assert code == 0, err
    assert json.loads(out)["source"]["received"] >= 1


def test_patterns_follow_who_binds_so_any_one_binding_side_meets_the_other() -> None:
    for uri, sending, pattern in [
        ("zmq+tcp://127.0.0.1:1?bind=1", True, "pub"),
        ("zmq+tcp://127.0.0.1:1", False, "sub"),
        ("zmq+tcp://127.0.0.1:1", True, "push"),
        ("zmq+tcp://*:1", False, "pull"),
        ("zmq+ipc:///tmp/x?pattern=push", False, "push"),  # named: kept (and refused later)
    ]:
        assert default_pattern(uri, sending=sending) == pattern


def test_a_binding_recorder_meets_a_connecting_replay(tmp_path: Path) -> None:
    """The other way round from the defaults: the receiver binds (PULL), the sender connects
    (PUSH), neither names a pattern, and every frame arrives."""
    n, port = 20, free_port()
    sent = _recording(tmp_path / "in.orsrec", n)
    recorder = orstream_spawn("record", "--source", f"zmq+tcp://127.0.0.1:{port}?bind=1",
                              "--out", str(tmp_path / "out.orsrec"), "--frames", str(n),
                              "--json")  # fmt: skip
    replay_args = ["replay", str(tmp_path / "in.orsrec"), "--fast", "--json",
                   "--endpoint", f"zmq+tcp://127.0.0.1:{port}"]  # fmt: skip
    processes = [recorder]
    try:
        stderr_line(recorder, "orstream record: pull ")
        processes.append(orstream_spawn(*replay_args))
        (record_code, record_out, record_err), (replay_code, replay_out, replay_err) = _finish(
            *processes
        )
    finally:
        _kill(*processes)
    assert record_code == 0 and replay_code == 0, record_err + replay_err
    assert json.loads(replay_out)["pattern"] == "push" and json.loads(replay_out)["complete"]
    recorded = json.loads(record_out)
    assert recorded["pattern"] == "pull" and recorded["frames"] == n and recorded["gaps"] == 0
    with RecordingReader(tmp_path / "out.orsrec") as reader:
        assert [bytes(m.payload) for m in reader.messages()] == sent


def test_a_receiver_with_no_sender_says_once_what_is_missing(tmp_path: Path) -> None:
    """A connecting recorder names the sender to start; a binding one, the sender to connect;
    each names the pattern a mismatched sender needs. One line, once, after the delay."""
    connect, bound = f"zmq+tcp://127.0.0.1:{free_port()}", f"zmq+tcp://*:{free_port()}"
    recorders = [
        orstream_spawn("record", "--source", uri, "--out", str(tmp_path / f"{i}.orsrec"))
        for i, uri in enumerate((connect, bound))
    ]
    try:
        hints = [stderr_line(recorder, HINT.pattern) for recorder in recorders]
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        ended = list(_finish(*recorders))
    finally:
        _kill(*recorders)
    from_, on = (line[line.index("no frames") :] for line in hints)
    assert from_.startswith(f"no frames from {connect} after {HINT_DELAY_S} s: ")
    assert f"orstream sim publish --endpoint {connect}?bind=1" in from_
    assert "?pattern=pull" in from_
    port = bound.rsplit(":", 1)[1]
    assert on.startswith(f"no frames on {bound} after {HINT_DELAY_S} s: ")
    assert f"orstream replay PATH --endpoint zmq+tcp://HOST:{port}" in on
    assert "?pattern=sub" in on
    for code, _, err in ended:
        assert code == 0, err
        assert not HINT.search(err), "the hint came more than once"
        assert "Traceback" not in err


def test_a_source_that_is_not_a_socket_gets_no_hint() -> None:
    """The hint is about ZeroMQ feeds: the simulator (or a file) running past the delay has
    nothing to be told."""
    engine = orstream_spawn("run", "--source", "sim:us?seed=1&fps=10",
                            "--duration", str(HINT_DELAY_S + 1), "--quiet", "--json")  # fmt: skip
    try:
        ((code, out, err),) = _finish(engine)
    finally:
        _kill(engine)
    assert code == 0, err
    assert json.loads(out)["source"]["received"] >= 1
    assert "no frames" not in err and "WARNING" not in err, err
