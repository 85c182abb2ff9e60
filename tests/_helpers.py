"""Shared test helpers for the wire protocol, the ZeroMQ transports and the command line.

Import as ``from tests._helpers import ...`` (the repository root is on ``sys.path`` through the
editable install). Nothing here gates on wall-clock speed: timeouts are failure bounds only.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from orstream.stream import Frame, RecordingReader, ZmqFrameSource, make_frame

TCP_BIND = "zmq+tcp://127.0.0.1:0?bind=1"
"""A loopback bind on a free port; read the real address from ``.last_endpoint``."""

FAILURE_BOUND_S = 10.0
"""How long a test waits for something that should happen before it fails."""


def orstream_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m orstream ARGS`` to completion (output captured as text, no check)."""
    return subprocess.run(
        [sys.executable, "-m", "orstream", *args],
        check=False, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def y_tree_file(path: Path) -> Path:
    """Write a small 3D centerline tree (the ``3dra`` format of ``eval policy --anatomy``) to
    ``path``: a Y, trunk 0-1-2-3, then 3-4-5 (right) and 3-6-7 (left), 10 mm steps, radius
    2 mm."""
    xyz = [(0, 0), (0, 10), (0, 20), (0, 30), (7, 37), (14, 44), (-7, 37), (-14, 44)]
    nbrs = [[1], [0, 2], [1, 3], [2, 4, 6], [3, 5], [4], [3, 7], [6]]
    lines = [str(len(xyz)), "0"]
    for (x, y), nb in zip(xyz, nbrs, strict=True):
        lines += [f"{x};{y};{0.1 * x};0;0;0;2.0;", ";".join(map(str, nb)) + ";"]
    path.write_text("\n".join(lines) + "\n")
    return path


def orstream_main(*args: str) -> int:
    """``python -m orstream ARGS`` in this process (so monkeypatches apply): the exit code.

    Output goes to this process's stdout and stderr (``capsys`` reads them)."""
    argv = sys.argv
    sys.argv = ["orstream", *args]
    try:
        runpy.run_module("orstream", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = argv
    return 0


def orstream_spawn(
    *args: str, python_args: tuple[str, ...] = ("-m", "orstream")
) -> subprocess.Popen[str]:
    """``python -m orstream ARGS`` started in the background (stdout and stderr piped, text);
    ``python_args`` replaces ``-m orstream`` (a script that runs the command its own way)."""
    return subprocess.Popen(
        [sys.executable, *python_args, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stderr_line(
    process: subprocess.Popen[str], pattern: str, timeout_s: float = FAILURE_BOUND_S * 3
) -> str:
    """The first line ``process`` writes to stderr that matches ``pattern`` (a regular
    expression), read as it comes. Lines before it are consumed; nothing after it is read, so
    ``process.communicate()`` still returns the rest. Fails (AssertionError, after killing the
    process) if its stderr ends or ``timeout_s`` passes first."""
    assert process.stderr is not None
    fd = process.stderr.fileno()
    deadline = time.monotonic() + timeout_s
    line = bytearray()
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        byte = os.read(fd, 1)  # one byte at a time: never past the line
        if not byte:
            break  # the process ended
        if byte != b"\n":
            line += byte
        elif re.search(pattern, text := line.decode(errors="replace")):
            return text
        else:
            line.clear()
    process.kill()
    raise AssertionError(f"no stderr line matching {pattern!r} within {timeout_s} s")


def free_port() -> int:
    """A loopback TCP port that is free now (bind it soon: another process may take it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def uri(last_endpoint: str, **options: str) -> str:
    """``tcp://127.0.0.1:5555`` -> ``zmq+tcp://127.0.0.1:5555?key=value&...``."""
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"zmq+{last_endpoint}" + (f"?{query}" if query else "")


def pixels_for(seq: int, shape: tuple[int, ...] = (32, 48), dtype: Any = np.uint16) -> Any:
    """Deterministic pixels that differ from frame to frame (so mix-ups show)."""
    count = int(np.prod(shape))
    values = (np.arange(count, dtype=np.uint64) * 2654435761 + seq * 40503) % 65521
    return values.astype(dtype).reshape(shape)


def numbered_frame(
    seq: int, stream_id: str = "s", shape: tuple[int, ...] = (32, 48), dtype: Any = np.uint16
) -> Frame:
    """A frame whose pixels are :func:`pixels_for` ``(seq, shape, dtype)``."""
    return make_frame(
        pixels_for(seq, shape, dtype), stream_id, seq, t_capture_ns=1_700_000_000_000_000_000 + seq
    )


def header(**fields: Any) -> dict[str, Any]:
    """A valid v1 header for a 2x3 uint8 frame, with ``fields`` overriding (None removes)."""
    base: dict[str, Any] = {
        "v": 1,
        "stream": "cam",
        "seq": 7,
        "t_capture_ns": 1_700_000_000_123_456_789,
        "modality": "us",
        "dtype": "uint8",
        "shape": [2, 3],
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def header_bytes(**fields: Any) -> bytes:
    return json.dumps(header(**fields)).encode()


def wait_until(predicate: Callable[[], bool], timeout_s: float = FAILURE_BOUND_S) -> None:
    """Poll ``predicate`` until it holds; fail (AssertionError) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.002)


def recorded_frames(path: Path) -> int:
    """Intact records in the recording at ``path`` so far: 0 while the file does not exist or
    has no complete file header yet. The file may still be growing (another process writing
    it): a record being appended is not counted until it is whole."""
    try:
        reader = RecordingReader(path)
    except (FileNotFoundError, ValueError):
        return 0
    try:
        return sum(1 for _ in reader.messages())
    finally:
        reader.close()


def recv_n(source: Any, n: int, timeout_s: float = FAILURE_BOUND_S) -> list[Frame]:
    """Exactly ``n`` frames from ``source`` (anything with ``recv(timeout_s)``)."""
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout_s
    while len(frames) < n:
        frame = source.recv(timeout_s=max(0.0, deadline - time.monotonic()))
        if frame is None:
            raise AssertionError(f"received {len(frames)} of {n} frames within {timeout_s} s")
        frames.append(frame)
    return frames


def pump(
    source: ZmqFrameSource,
    done: Callable[[list[Frame]], bool],
    timeout_s: float = FAILURE_BOUND_S,
) -> list[Frame]:
    """Keep receiving (bad messages are counted only inside ``recv``) until ``done(frames)``
    holds; fail (AssertionError) after ``timeout_s``."""
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout_s
    while not done(frames):
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout_s} s ({len(frames)} frames)")
        frame = source.recv(timeout_s=0.02)
        if frame is not None:
            frames.append(frame)
    return frames


def await_subscription(send_probe: Callable[[int], None], source: ZmqFrameSource) -> None:
    """Send probes until the SUB side receives the newest one (PUB/SUB slow joiner).

    Frames on one connection arrive in order, so once probe ``k`` (the last sent) has arrived
    nothing older is still in flight. Probes use stream id ``"probe"``.
    """
    deadline = time.monotonic() + FAILURE_BOUND_S
    sent = -1
    while time.monotonic() < deadline:
        sent += 1
        send_probe(sent)
        frame = source.recv(timeout_s=0.05)
        while frame is not None:
            if frame.stream_id == "probe" and frame.seq == sent:
                return
            frame = source.recv(timeout_s=1.0)
    raise AssertionError("no subscription within the failure bound")


@contextmanager
def raw_socket(kind: int, address: str, **options: Any) -> Iterator[zmq.Socket[bytes]]:
    """A plain pyzmq socket connected to ``address`` (a hostile or foreign peer)."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = context.socket(kind)
    sock.linger = 0
    for name, value in options.items():
        setattr(sock, name, value)
    sock.connect(address)
    try:
        yield sock
    finally:
        sock.close(0)
        context.term()


class TcpTap:
    """A loopback TCP relay that records what the client sends (to look for plaintext).

    Connect to ``self.port``; bytes go on to ``target_port`` and back unchanged.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.client_bytes = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    with self._lock:
                        self.client_bytes += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for conn in (src, dst):
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def captured(self) -> bytes:
        with self._lock:
            return bytes(self.client_bytes)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for conn in self._conns:
            conn.close()
