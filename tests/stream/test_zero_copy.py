"""Zero copies where the bytes are large: counted on the receive and on the send path.

A 1024x1024 uint16 frame (2 MiB). Receive: the decoded pixels are a view on the zmq.Frame that
``recv_multipart(copy=False)`` returned, and tracemalloc (which numpy reports its data
allocations to) sees no allocation of frame size between the socket and the decoded frame.
Send: the payload goes into a zmq.Frame that points at the array's own memory.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zmq

from orstream.stream import Frame, ZmqFrameSender, ZmqFrameSource, decode, encode, make_frame
from tests._helpers import TCP_BIND, pixels_for, uri, wait_until

SHAPE = (1024, 1024)
NBYTES = 1024 * 1024 * 2


def _address(buffer: Any) -> int:
    return int(np.frombuffer(buffer, np.uint8).ctypes.data)


class _Spy:
    """Wraps a socket method, keeping the arguments and results of each call."""

    def __init__(self, method: Any) -> None:
        self.method = method
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any], Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.method(*args, **kwargs)
        self.calls.append((args, kwargs, result))
        return result


@pytest.fixture
def link() -> Iterator[tuple[ZmqFrameSender, ZmqFrameSource]]:
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    sender = ZmqFrameSender(uri(source.last_endpoint), pattern="push")
    yield sender, source
    sender.close()
    source.close()


def _big_frame(seq: int = 0) -> Frame:
    return make_frame(pixels_for(seq, SHAPE, np.uint16), "zc", seq)


def test_receive_decodes_a_view_on_the_zmq_message(
    link: tuple[ZmqFrameSender, ZmqFrameSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, source = link
    spy = _Spy(source.socket.recv_multipart)
    monkeypatch.setattr(source.socket, "recv_multipart", spy)
    sent = _big_frame()
    sender.send(sent)
    wait_until(lambda: bool(source._poller.poll(0)))  # the message is in, before tracing

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        frame = source.recv(timeout_s=10.0)
        _, peak = tracemalloc.get_traced_memory()
        # the yardstick: one copy of the pixels is visible to tracemalloc
        assert frame is not None
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        copied = np.array(frame.pixels)
        _, copy_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert copy_peak - base >= NBYTES  # tracemalloc does see a frame-sized numpy allocation
    assert peak - before < NBYTES // 8  # ...and none between the socket and the frame
    assert len(spy.calls) == 1
    _, kwargs, parts = spy.calls[0]
    assert kwargs.get("copy") is False
    assert all(isinstance(part, zmq.Frame) for part in parts)
    payload = parts[1]
    assert frame.pixels.ctypes.data == _address(payload.buffer)  # same memory
    assert np.shares_memory(frame.pixels, np.frombuffer(payload.buffer, np.uint8))
    assert not frame.pixels.flags.writeable
    np.testing.assert_array_equal(copied, sent.pixels)


def test_decode_views_its_payload_buffer() -> None:
    sent = _big_frame(1)
    header, payload = encode(sent)
    message = zmq.Frame(payload.tobytes())  # a received message part
    frame = decode([header, message])
    assert frame.pixels.ctypes.data == _address(message.buffer)
    assert frame.pixels.base is not None  # a view, keeping the message alive


def test_send_hands_libzmq_the_arrays_own_memory(
    link: tuple[ZmqFrameSender, ZmqFrameSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, source = link
    spy = _Spy(sender.socket.send_multipart)
    monkeypatch.setattr(sender.socket, "send_multipart", spy)
    sent = _big_frame(2)
    sender.send(sent)

    (args, kwargs, _) = spy.calls[0]
    parts = args[0]
    assert kwargs.get("copy") is False
    assert parts[1] is sent.pixels  # encode passed the array itself, not a copy
    assert sent.pixels.nbytes >= zmq.COPY_THRESHOLD == 64 * 1024
    # The message part exactly as Socket.send builds it for copy=False (pyzmq's
    # zmq/backend/cython/_zmq.py): a Frame with the socket's copy threshold.
    message = zmq.Frame(parts[1], track=False, copy_threshold=sender.socket.copy_threshold)
    assert _address(message.buffer) == sent.pixels.ctypes.data  # libzmq points at the array
    assert _address(message.buffer) != _address(zmq.Frame(parts[0]).buffer)

    frame = source.recv(timeout_s=10.0)
    assert frame is not None
    np.testing.assert_array_equal(frame.pixels, sent.pixels)


def test_small_payloads_are_copied_below_the_threshold() -> None:
    """The other side of the rule: under 64 KiB a copy is cheaper than sharing memory."""
    small = np.zeros((64, 64), np.uint16)  # 8 KiB
    message = zmq.Frame(small, track=False, copy_threshold=zmq.COPY_THRESHOLD)
    assert _address(message.buffer) != small.ctypes.data
