"""The acceptance test: a hostile peer on the same PULL never stops or starves the receiver.

One sender sends valid frames over PUSH while a second, connected to the same bound PULL,
interleaves hostile messages. Every valid frame arrives bit-exact and in order, every hostile
message is counted by kind, memory stays bounded and the log stays quiet (one line per kind
per interval).
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import psutil
import pytest
import zmq

from orstream.stream import (
    DROP_KINDS,
    MAX_HEADER_BYTES,
    DropCounter,
    WireError,
    ZmqFrameSender,
    ZmqFrameSource,
    decode,
    encode,
)
from tests._helpers import (
    FAILURE_BOUND_S,
    TCP_BIND,
    header_bytes,
    numbered_frame,
    pixels_for,
    pump,
    raw_socket,
    uri,
)

_rng = np.random.default_rng(20260101)
_valid_header = header_bytes()  # a 2x3 uint8 frame

HOSTILE: dict[str, tuple[list[bytes], str]] = {
    # name: (message parts, the kind it must be counted as)
    "bad JSON": ([b'{"v": 1, "stream": ', bytes(6)], "json"),
    "header not an object": ([b"[1, 2, 3]", bytes(6)], "json"),
    "unknown version": ([header_bytes(v=2), bytes(6)], "version"),
    "no version": ([header_bytes(v=None), bytes(6)], "version"),
    "dtype not matching payload": ([header_bytes(dtype="float64"), bytes(6)], "payload_mismatch"),
    "shape not matching payload": ([header_bytes(shape=[3, 3]), bytes(6)], "payload_mismatch"),
    "declared size over the limit": (
        [header_bytes(shape=[32768, 32768, 4], dtype="float64"), bytes(64)],
        "payload_size",
    ),
    "declared dims over the limit": ([header_bytes(shape=[100000, 100000]), bytes(6)], "shape"),
    "one part": ([_valid_header], "parts"),
    "three parts": ([_valid_header, bytes(6), bytes(6)], "parts"),
    "random bytes": ([_rng.bytes(300), _rng.bytes(40)], "utf8"),
    "non-UTF-8 header": ([b'{"v": 1, "stream": "\xc0\xaf"}', bytes(6)], "utf8"),
    "header over 16 KiB": ([b"{" + b" " * MAX_HEADER_BYTES + b"}", bytes(6)], "header_size"),
    "NaN in JSON": ([header_bytes(meta={"gain": 1.5}).replace(b"1.5", b"NaN"), bytes(6)], "json"),
    "deeply nested JSON": ([b'{"meta": ' + b"[" * 8000 + b"]" * 8000 + b"}", bytes(6)], "json"),
    "bad field": ([header_bytes(seq=-1), bytes(6)], "field"),
    "unsupported dtype": ([header_bytes(dtype="complex64"), bytes(6)], "dtype"),
    "shared-memory reference on a lossless feed": (
        [header_bytes(shm={"segment": "orstream-x", "offset": 64, "nbytes": 6, "gen": 2}), b""],
        "shm",
    ),
}


def test_each_hostile_message_is_what_it_claims() -> None:
    kinds = set()
    for name, (parts, kind) in HOSTILE.items():
        with pytest.raises(WireError) as info:
            decode(parts)
        assert info.value.kind == kind, name
        kinds.add(kind)
    assert kinds == set(DROP_KINDS) - {"overrun"}  # not a defect: tests/stream/test_shm.py
    assert len(HOSTILE["deeply nested JSON"][0][0]) <= MAX_HEADER_BYTES


class _Rig:
    """A bound PULL, a valid PUSH sender and a raw hostile PUSH socket, both connected to it."""

    def __init__(self, hostile: zmq.Socket[bytes], source: ZmqFrameSource) -> None:
        self.source = source
        self.valid = ZmqFrameSender(uri(source.last_endpoint), pattern="push")
        self.hostile = hostile
        self.frames: list[Any] = []
        self.expected = Counter[str]()

    def phase(self, seqs: range, rounds: int) -> None:
        """Valid frames ``seqs`` and ``rounds`` rounds of every hostile message, concurrently;
        returns once all have been received or counted (failure bound only)."""

        def send_valid() -> None:
            for seq in seqs:
                self.valid.send(numbered_frame(seq))

        def send_hostile() -> None:
            for _ in range(rounds):
                for parts, _kind in HOSTILE.values():
                    self.hostile.send_multipart(parts)

        threads = [threading.Thread(target=send_valid), threading.Thread(target=send_hostile)]
        for thread in threads:
            thread.start()
        for _, kind in HOSTILE.values():
            self.expected[kind] += rounds
        want_frames = len(self.frames) + len(seqs)
        want_drops = sum(self.expected.values())
        self.frames += pump(
            self.source,
            lambda got: (
                len(self.frames) + len(got) == want_frames
                and self.source.malformed.total == want_drops
            ),
            timeout_s=6 * FAILURE_BOUND_S,
        )
        for thread in threads:
            thread.join(timeout=FAILURE_BOUND_S)
        assert len(self.frames) == want_frames, "valid frames were lost"
        assert self.source.malformed.as_dict() == dict(self.expected)

    def close(self) -> None:
        self.valid.close()


@pytest.fixture
def rig() -> Iterator[_Rig]:
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    source.malformed.log_interval_s = 3600.0  # one line per kind for the whole test
    try:
        with raw_socket(zmq.PUSH, source.last_endpoint) as hostile:
            rig = _Rig(hostile, source)
            yield rig
            rig.close()
    finally:
        source.close()


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def test_hostile_peer_cannot_stop_starve_or_bloat_the_receiver(
    rig: _Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orstream.stream")
    rig.phase(range(0, 100), rounds=40)  # warm-up: allocator pools, socket buffers
    rss_before = _rss()
    rig.phase(range(100, 300), rounds=200)  # 200 x 18 = 3600 more hostile messages
    rss_growth = _rss() - rss_before

    assert [f.seq for f in rig.frames] == list(range(300))  # every valid frame, in order
    for frame in rig.frames:
        assert frame.stream_id == "s"
        assert frame.pixels.tobytes() == pixels_for(frame.seq).tobytes()  # bit-exact
    stats = rig.source.stats()
    assert stats["received"] == 300
    assert stats["gaps"] == 0
    assert stats["malformed"] == 240 * len(HOSTILE)
    assert rss_growth < 50 * 1024 * 1024, f"RSS grew {rss_growth / 2**20:.1f} MiB"

    lines = [r for r in caplog.records if r.name == "orstream.stream" and "dropped" in r.message]
    logged = Counter(r.args[2] for r in lines if isinstance(r.args, tuple))
    assert logged == dict.fromkeys(rig.expected, 1)  # one line per kind in the interval
    for record in lines:
        assert record.levelno == logging.WARNING
        assert "\n" not in record.getMessage()
        assert len(record.getMessage()) < 400  # a reason, never the payload

    rig.valid.send(numbered_frame(300))  # still up
    frame = rig.source.recv(timeout_s=FAILURE_BOUND_S)
    assert frame is not None and frame.seq == 300


def test_payload_limits_through_the_transport() -> None:
    """Over ``max_payload_bytes`` but within libzmq's per-part limit: counted as payload_size.
    Over libzmq's limit (ZMQ_MAXMSGSIZE = max(max_payload_bytes, 16 KiB)): libzmq drops the
    hostile connection before decoding, uncounted; other senders carry on."""
    source = ZmqFrameSource(TCP_BIND, pattern="pull", max_payload_bytes=4096)
    valid = ZmqFrameSender(uri(source.last_endpoint), pattern="push")
    try:
        with raw_socket(zmq.PUSH, source.last_endpoint) as hostile:
            hostile.send_multipart([header_bytes(shape=[80, 100]), bytes(8000)])
            hostile.send_multipart([header_bytes(shape=[1000, 1000]), bytes(1_000_000)])
            for seq in range(5):
                valid.send(numbered_frame(seq, shape=(16, 16)))
            frames = pump(source, lambda got: len(got) == 5 and source.malformed.total == 1)
        assert [f.seq for f in frames] == list(range(5))
        assert source.malformed.as_dict() == {"payload_size": 1}
    finally:
        valid.close()
        source.close()


def test_decode_errors_never_escape_recv() -> None:
    """Messages that once raised TypeError/OverflowError inside decode (found by fuzzing)."""
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    try:
        with raw_socket(zmq.PUSH, source.last_endpoint) as hostile:
            for fields in (
                {"modality": ["us"]},
                {"geometry": {"kind": {"a": 1}}},
                {"spacing_mm": [10**400, 1]},
            ):
                head = json.dumps(json.loads(header_bytes()) | fields).encode()
                hostile.send_multipart([head, bytes(6)])
            hostile.send_multipart(encode(numbered_frame(1, shape=(2, 3))))
            frame = source.recv(timeout_s=FAILURE_BOUND_S)
        assert frame is not None and frame.seq == 1
        assert source.malformed.as_dict() == {"field": 3}
    finally:
        source.close()


def test_drop_log_is_rate_limited_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    caplog.set_level(logging.WARNING, logger="orstream.stream")
    counter = DropCounter("receive test", log_interval_s=5.0, clock=lambda: now[0])

    def drop_at(t: float, kind: str) -> None:
        now[0] = 100.0 + t
        counter.drop(kind, f"{kind} reason")

    for t in (0.0, 1.0, 2.0, 4.9):
        drop_at(t, "json")
    drop_at(1.0, "parts")
    drop_at(5.0, "json")  # a new interval: one line for the 4 since the last one
    drop_at(6.0, "json")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "receive test: dropped 1 message(s) of kind 'json' (json reason)",
        "receive test: dropped 1 message(s) of kind 'parts' (parts reason)",
        "receive test: dropped 4 message(s) of kind 'json' (json reason)",
    ]
    assert counter.as_dict() == {"json": 6, "parts": 1}
    assert counter.total == 7
