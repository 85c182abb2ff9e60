"""The OpenIGTLink client source (``igtl://``) against a raw socket server: IMAGE messages
become frames carrying the newest TRANSFORMs; hostile bytes (zero-length or oversized body,
bad CRC, wrong device, a body that does not unpack, garbage) are counted drops, never a hang."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import numpy as np
import pyigtl
import pytest
from pyigtl.messages import CRC64

from orstream.stream import IgtlServerSink, IgtlSource, make_frame, open_source
from tests._helpers import FAILURE_BOUND_S, wait_until


class RawServer:
    """A listening socket; ``accept()`` gives the connection an IgtlSource makes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(FAILURE_BOUND_S)
        self.port = int(self.listener.getsockname()[1])

    def accept(self) -> socket.socket:
        conn, _ = self.listener.accept()
        return conn


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.listener.close()


def _image(device: str = "Image_Reference", value: int = 7) -> bytes:
    pixels = np.full((1, 12, 16), value, np.uint8)
    ijk = np.diag([0.3, 0.2, 1.0, 1.0])
    return pyigtl.ImageMessage(pixels, ijk, device_name=device, timestamp=1234.5).pack()


def _transform(x: float) -> bytes:
    matrix = np.eye(4)
    matrix[0, 3] = x
    return pyigtl.TransformMessage(matrix, device_name="ProbeToReference").pack()


def _header(kind: bytes, size: int, crc: int = 0, device: bytes = b"d") -> bytes:
    return struct.pack(">H12s20sIIQQ", 1, kind, device, 0, 0, size, crc)


def test_image_becomes_a_frame_with_the_newest_transforms(raw: RawServer) -> None:
    source = IgtlSource("127.0.0.1", raw.port)
    try:
        conn = raw.accept()
        conn.sendall(_transform(1.0) + _transform(2.5) + _image())
        frame = source.recv(FAILURE_BOUND_S)
        assert frame is not None
        assert frame.pixels.shape == (12, 16) and int(frame.pixels[0, 0]) == 7
        assert frame.spacing_mm == pytest.approx((0.2, 0.3))
        assert frame.t_capture_ns == round(1234.5 * 1e9)
        assert frame.stream_id == "Image_Reference"
        assert frame.meta["transforms"]["ProbeToReference"][0][3] == 2.5
        conn.close()
    finally:
        source.close()


def _short_image() -> bytes:
    """A valid IMAGE with its last 4 voxels cut off, CRC and size made right again."""
    whole = _image()
    body = whole[58:-4]
    crc = CRC64(body)
    return whole[:42] + struct.pack(">QQ", len(body), crc) + body


HOSTILE = {
    "empty": _header(b"IMAGE", 0),
    "crc": _header(b"TRANSFORM", 48, crc=12345) + bytes(48),
    "device": _image("Other"),
    "malformed": _header(b"IMAGE", 8, device=b"Image_Reference") + bytes(8),  # CRC 0: ok
    "voxels": _short_image(),
}
KIND = {"voxels": "malformed"}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_bad_messages_are_counted_and_the_next_good_one_arrives(raw: RawServer, kind: str) -> None:
    source = open_source(f"igtl://127.0.0.1:{raw.port}?device=Image_Reference")
    try:
        conn = raw.accept()
        conn.sendall(HOSTILE[kind] + _image(value=9))
        frame = source.recv(FAILURE_BOUND_S)
        assert frame is not None and int(frame.pixels[0, 0]) == 9
        assert source.stats()["drops"] == {KIND.get(kind, kind): 1}
        conn.close()
    finally:
        source.close()


@pytest.mark.parametrize(
    "garbage",
    [
        _header(b"IMAGE", 1 << 40),  # oversized: cannot be skipped, reconnect
        b"\x00\x07" + bytes(56),  # header version 7
        b"\x00\x01" + b"\xff" * 12 + bytes(44),  # a type that is not ASCII
    ],
)
def test_an_untrustworthy_header_reconnects(raw: RawServer, garbage: bytes) -> None:
    source = IgtlSource("127.0.0.1", raw.port)
    try:
        first = raw.accept()
        first.sendall(garbage)
        second = raw.accept()  # the source closed the first connection and came back
        wait_until(lambda: source.stats()["malformed"] == 1)
        second.sendall(_image(value=3))
        frame = source.recv(FAILURE_BOUND_S)
        assert frame is not None and int(frame.pixels[0, 0]) == 3
        assert source.connections == 2
        first.close()
        second.close()
    finally:
        source.close()


def test_a_truncated_message_then_close_is_no_hang(raw: RawServer) -> None:
    source = IgtlSource("127.0.0.1", raw.port)
    try:
        conn = raw.accept()
        conn.sendall(_image()[:-5])
        conn.close()
        assert source.recv(0.5) is None
        conn = raw.accept()  # reconnected
        conn.sendall(_image(value=4))
        frame = source.recv(FAILURE_BOUND_S)
        assert frame is not None and int(frame.pixels[0, 0]) == 4
        conn.close()
    finally:
        source.close()


def test_our_server_feeds_our_source() -> None:
    server = IgtlServerSink(0)
    source = open_source(f"igtl://127.0.0.1:{server.port}?stream=probe&modality=us")
    try:
        wait_until(lambda: server.clients == 1)
        matrix = np.eye(4)
        matrix[1, 3] = 42.0
        pixels = np.arange(20 * 24, dtype=np.uint16).reshape(20, 24)
        frame = make_frame(pixels, spacing_mm=(0.4, 0.5), meta={"transforms": {"P": matrix}})
        server.write(frame)
        got = source.recv(FAILURE_BOUND_S)
        assert got is not None and got.stream_id == "probe"
        np.testing.assert_array_equal(got.pixels, pixels)
        assert got.spacing_mm == pytest.approx((0.4, 0.5))
        assert got.t_capture_ns == pytest.approx(frame.t_capture_ns, abs=1000)
        assert got.meta["transforms"]["P"][1][3] == 42.0
    finally:
        source.close()
        server.close()


def test_bad_uris_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="unknown option"):
        open_source("igtl://127.0.0.1:1?devic=x")
    with pytest.raises(ValueError, match="not a number"):
        open_source("igtl://127.0.0.1:port")


def test_header_version_2_with_metadata_is_read(raw: RawServer) -> None:
    """PLUS and Slicer (OpenIGTLink 3) send header version 2 with an extended header."""
    message = pyigtl.ImageMessage(
        np.arange(24, dtype=np.uint16).reshape(1, 4, 6), device_name="Image_Reference"
    )
    message.header_version = 2
    message.metadata = {"Probe": "C5-2"}
    source = IgtlSource("127.0.0.1", raw.port)
    try:
        conn = raw.accept()
        conn.sendall(message.pack())
        frame = source.recv(FAILURE_BOUND_S)
        assert frame is not None and frame.pixels.tolist()[1] == list(range(6, 12))
        conn.close()
    finally:
        source.close()
