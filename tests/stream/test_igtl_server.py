"""The OpenIGTLink server sink (``igtl+server://``) against pyigtl's own client: IMAGE with
the frame's spacing, PLUS-style TRANSFORM names found generically in the results, guidance
STATUS/STRING, label maps on request (GET_IMAGE) or every frame, and hostile client bytes."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyigtl
import pytest
from pyigtl.messages import MessageBase

from orstream.stream import (
    TRANSFORM_NAMES,
    Frame,
    IgtlServerSink,
    StatusMessage,
    crc_extension_in_use,
    make_frame,
    open_sink,
)
from tests._helpers import FAILURE_BOUND_S, wait_until


@dataclass
class Point:
    """A result with a to_json() like the pipelines' (tip) or the gate's (guidance)."""

    doc: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.doc


class Broken:
    def to_json(self) -> dict[str, Any]:
        raise RuntimeError("no")


@pytest.fixture
def server() -> Iterator[IgtlServerSink]:
    sink = IgtlServerSink(0)
    yield sink
    sink.close()


@pytest.fixture
def client(server: IgtlServerSink) -> Iterator[Any]:
    igtl = pyigtl.OpenIGTLinkClient("127.0.0.1", server.port)
    wait_until(lambda: server.clients == 1)
    yield igtl
    igtl.stop()


def _frame(seq: int = 0) -> Frame:
    pixels = (np.arange(30 * 40) % 251).astype(np.uint8).reshape(30, 40)
    return make_frame(pixels, "cath", seq, spacing_mm=(0.5, 0.25), modality="fluoro")


def _query(kind: str, device: str) -> Any:
    message = MessageBase(device_name=device)
    message._message_type = kind
    message._valid_message = True
    return message


def test_image_and_tip_transforms_reach_a_pyigtl_client(
    server: IgtlServerSink, client: Any
) -> None:
    frame = _frame()
    frame.results["tip"] = Point({"found": True, "x_mm": 3.5, "y_mm": 7.25, "x_px": 14.0})
    frame.results["us"] = Point({"needle_tip": {"found": True, "x_mm": 1.0, "y_mm": 2.0}})
    frame.results["other"] = Point({"x_mm": 4.0, "y_mm": 5.0})
    frame.results["broken"] = Broken()
    server.write(frame)
    tip = client.wait_for_message(TRANSFORM_NAMES["tip"], FAILURE_BOUND_S)
    assert tip is not None and TRANSFORM_NAMES["tip"] == "CatheterTipToImage"
    np.testing.assert_allclose(tip.matrix[:3, 3], [3.5, 7.25, 0.0])
    np.testing.assert_allclose(tip.matrix[:3, :3], np.eye(3))
    assert tip.timestamp == pytest.approx(frame.t_capture_ns / 1e9, abs=1e-6)
    needle = client.wait_for_message("NeedleTipToImage", FAILURE_BOUND_S)
    np.testing.assert_allclose(needle.matrix[:3, 3], [1.0, 2.0, 0.0])
    other = client.wait_for_message("OtherToImage", FAILURE_BOUND_S)
    np.testing.assert_allclose(other.matrix[:3, 3], [4.0, 5.0, 0.0])
    image = client.wait_for_message("Image_Reference", FAILURE_BOUND_S)
    assert image.image.shape == (1, 30, 40)
    np.testing.assert_array_equal(image.image[0], frame.pixels)
    np.testing.assert_allclose(np.diag(image.ijk_to_world_matrix)[:3], [0.25, 0.5, 1.0])
    assert image.world_coordinate_system == "ras"
    assert server.stats()["skipped"] == {"to_json:broken": 1}


def test_a_tip_not_found_sends_no_transform_but_the_image(
    server: IgtlServerSink, client: Any
) -> None:
    frame = _frame()
    frame.results["tip"] = Point({"found": False, "x_mm": None, "y_mm": None})
    server.write(frame)
    assert client.wait_for_message("Image_Reference", FAILURE_BOUND_S) is not None
    assert client.wait_for_message("CatheterTipToImage", 0.3) is None


def test_guidance_goes_as_status_string_and_target(server: IgtlServerSink, client: Any) -> None:
    frame = _frame()
    doc = {  # the shape of orstream.policies.GuidanceResult.to_json()
        "state": "HOLD",
        "reason": {"code": "frame_stale", "text": "no fresh frame"},
        "target": {"x_px": 8.0, "y_px": 4.0},
        "position": {"x_mm": 99.0, "y_mm": 99.0},  # the robot's, not a point of the image
        "distance_to_target_mm": 3.2,
    }
    frame.results["guidance"] = Point(doc)
    server.write(frame)
    target = client.wait_for_message("TargetToImage", FAILURE_BOUND_S)
    np.testing.assert_allclose(target.matrix[:3, 3], [8.0 * 0.25, 4.0 * 0.5, 0.0])
    text = client.wait_for_message("Guidance", FAILURE_BOUND_S)
    assert json.loads(text.string) == doc
    # pyigtl has no STATUS class: ask for it with GET_STATUS on a raw socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=FAILURE_BOUND_S) as raw:
        raw.sendall(_query("GET_STATUS", "Guidance").pack())
        header = _read_exact(raw, 58)
        kind, device, size = header[2:14], header[14:34], struct.unpack(">Q", header[42:50])[0]
        assert kind.rstrip(b"\0") == b"STATUS" and device.rstrip(b"\0") == b"Guidance"
        status = StatusMessage()
        status._unpack_content(_read_exact(raw, size))
    assert (status.code, status.error_name) == (13, "HOLD")  # 13: device not ready
    assert status.status == "frame_stale: no fresh frame"


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def test_no_guidance_result_sends_no_status(server: IgtlServerSink, client: Any) -> None:
    server.write(_frame())
    assert client.wait_for_message("Image_Reference", FAILURE_BOUND_S) is not None
    assert client.wait_for_message("Guidance", 0.3) is None


def test_label_map_on_get_image_and_every_frame_with_labels() -> None:
    mask = np.zeros((30, 40), np.uint8)
    mask[10:20, 5:9] = 1
    on_request = IgtlServerSink(0)
    every = open_sink("igtl+server://127.0.0.1:0?labels=1")
    clients = []
    try:
        for sink in (on_request, every):
            clients.append(pyigtl.OpenIGTLinkClient("127.0.0.1", sink.port))  # type: ignore[attr-defined]
            wait_until(lambda s=sink: s.clients == 1)  # type: ignore[attr-defined]
            frame = _frame()
            frame.results["catheter_mask"] = mask
            sink.write(frame)
        asked, pushed = clients
        assert asked.wait_for_message("Image_Reference", FAILURE_BOUND_S) is not None
        assert asked.wait_for_message("catheter_mask", 0.3) is None
        asked.send_message(_query("GET_IMAGE", "catheter_mask"))
        labels = asked.wait_for_message("catheter_mask", FAILURE_BOUND_S)
        assert labels is not None
        np.testing.assert_array_equal(labels.image[0], mask)
        sent = pushed.wait_for_message("catheter_mask", FAILURE_BOUND_S)
        np.testing.assert_array_equal(sent.image[0], mask)
    finally:
        for igtl in clients:
            igtl.stop()
        on_request.close()
        every.close()


def test_source_transforms_are_forwarded(server: IgtlServerSink, client: Any) -> None:
    frame = _frame()
    matrix = np.eye(4)
    matrix[:3, 3] = (10.0, -20.0, 30.0)
    frame = make_frame(frame.pixels, meta={"transforms": {"ProbeToReference": matrix.tolist()}})
    server.write(frame)
    probe = client.wait_for_message("ProbeToReference", FAILURE_BOUND_S)
    np.testing.assert_allclose(probe.matrix, matrix)


@pytest.mark.parametrize(
    "hostile",
    [
        b"\xff" * 58,  # header version 65535: cannot be trusted, closes that client
        struct.pack(">H12s20sIIQQ", 1, b"IMAGE", b"x", 0, 0, 1 << 40, 0),  # oversized
        struct.pack(">H12s20sIIQQ", 1, b"TRANSFORM", b"x", 0, 0, 0, 0),  # empty body
        struct.pack(">H12s20sIIQQ", 1, b"TRANSFORM", b"x", 0, 0, 4, 7) + b"abcd",  # bad CRC
    ],
)
def test_hostile_client_bytes_are_counted_and_the_server_keeps_serving(
    server: IgtlServerSink, client: Any, hostile: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=FAILURE_BOUND_S) as raw:
        raw.sendall(hostile)
        wait_until(lambda: server.drops.total == 1)
    server.write(_frame())
    assert client.wait_for_message("Image_Reference", FAILURE_BOUND_S) is not None


def test_a_taken_port_is_one_line_error(server: IgtlServerSink) -> None:
    with pytest.raises(ValueError, match="cannot listen"):
        open_sink(f"igtl+server://127.0.0.1:{server.port}")
    with pytest.raises(ValueError, match="unknown option"):
        open_sink("igtl+server://127.0.0.1:0?label=1")


def test_crc_extension_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    submodule = sys.modules["crcmod.crcmod"]  # not the attribute: crcmod 1.7 rebinds it
    assert crc_extension_in_use() is bool(submodule._usingExtension)
    monkeypatch.setattr(submodule, "_usingExtension", False)
    assert crc_extension_in_use() is False


def _ask(port: int, kind: str, device: str = "") -> tuple[bytes, bytes]:
    """Send one query on a raw socket; the reply's type and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=FAILURE_BOUND_S) as raw:
        raw.sendall(_query(kind, device).pack())
        header = _read_exact(raw, 58)
        size = struct.unpack(">Q", header[42:50])[0]
        return header[2:14].rstrip(b"\0"), _read_exact(raw, size)


def test_image_and_label_meta_lists_answer_slicer_queries(server: IgtlServerSink) -> None:
    frame = _frame()
    frame.results["catheter_mask"] = np.zeros((30, 40), np.uint8)
    server.write(frame)  # no client yet: kept for queries, nothing packed
    kind, body = _ask(server.port, "GET_IMGMETA")
    assert kind == b"IMGMETA" and len(body) == 260
    assert body[64:84].rstrip(b"\0") == b"Image_Reference"
    assert body[84:116].rstrip(b"\0") == b"fluoro" and body[116:244] == bytes(128)  # no patient
    assert struct.unpack(">HHHB", body[252:259]) == (40, 30, 1, 3)  # W, H, D, uint8
    kind, body = _ask(server.port, "GET_LBMETA")
    assert kind == b"LBMETA" and len(body) == 116
    assert body[64:84].rstrip(b"\0") == b"catheter_mask"
    assert struct.unpack(">HHH", body[90:96]) == (40, 30, 1)
    assert body[96:116].rstrip(b"\0") == b"Image_Reference"


def test_a_client_that_reads_nothing_never_blocks_the_writer(
    server: IgtlServerSink, client: Any
) -> None:
    big = make_frame(np.zeros((1024, 1024), np.uint16))
    with socket.create_connection(("127.0.0.1", server.port)) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        wait_until(lambda: server.clients == 2)
        writer = threading.Thread(target=lambda: [server.write(big) for _ in range(40)])
        writer.start()
        writer.join(FAILURE_BOUND_S)
        assert not writer.is_alive(), "write blocked on a client that reads nothing"
        wait_until(lambda: server.stats()["stale"] > 0)
        server.write(_frame(1))  # the reading client still gets the newest frame
        wait_until(lambda: _has_small_image(client))


def _has_small_image(client: Any) -> bool:
    message = client.wait_for_message("Image_Reference", 0.1)
    return message is not None and message.image.shape == (1, 30, 40)
