"""Wire protocol v1: round trips of every dtype and shape, what the encoder sends, and the
spec page (docs/wire-protocol.md) checked against the code. Malformed messages: test_wire_errors.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orstream.stream import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DROP_KINDS,
    DTYPES,
    MAX_DIM,
    MAX_HEADER_BYTES,
    WIRE_VERSION,
    Frame,
    Geometry,
    GeometryKind,
    Modality,
    WireError,
    decode,
    encode,
    encode_header,
    make_frame,
)
from tests._helpers import header

SPEC = Path(__file__).resolve().parents[2] / "docs" / "wire-protocol.md"
SHAPES = [(3, 5), (1, 1), (4, 7, 1), (3, 2, 3), (2, 5, 4)]


def _random_pixels(dtype: str, shape: tuple[int, ...], seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * np.dtype(dtype).itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)  # every bit pattern, NaNs and infinities included


def _round_trip(frame: Frame) -> Frame:
    head, payload = encode(frame)
    return decode([head, payload])


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_round_trip_every_dtype_and_shape(dtype: str, shape: tuple[int, ...]) -> None:
    pixels = _random_pixels(dtype, shape, seed=len(shape) * 31 + len(dtype))
    frame = make_frame(pixels, "cam-1", 12345, t_capture_ns=1_767_225_600_000_000_001)
    head, payload = encode(frame)
    assert payload.nbytes == pixels.nbytes
    for wire_payload in (payload, payload.tobytes(), memoryview(payload.tobytes())):
        out = decode([head, wire_payload])
        assert out.pixels.dtype == np.dtype(dtype).newbyteorder("<")
        assert out.pixels.shape == shape
        assert out.pixels.tobytes() == pixels.tobytes()  # bit-exact, NaN payloads included
        assert not out.pixels.flags.writeable
        assert (out.stream_id, out.seq, out.t_capture_ns) == ("cam-1", 12345, frame.t_capture_ns)


@pytest.mark.parametrize("dtype", [">u2", ">i2", ">u4", ">i4", ">f4", ">f8"])
def test_big_endian_input_is_sent_little_endian(dtype: str) -> None:
    pixels = (np.arange(24) * 3 - 7).astype(dtype).reshape(4, 6)
    head, payload = encode(make_frame(pixels))
    assert json.loads(head)["dtype"] == np.dtype(dtype).name
    assert payload.dtype.byteorder in ("<", "=")
    assert payload.tobytes() == pixels.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
    out = decode([head, payload.tobytes()])
    np.testing.assert_array_equal(out.pixels, pixels)


def test_non_contiguous_input_is_made_contiguous() -> None:
    base = np.arange(60, dtype=np.uint16).reshape(6, 10)
    view = base[::2, 1::3]
    frame = Frame(pixels=view, stream_id="s", seq=0, t_capture_ns=0)
    out = _round_trip(frame)
    np.testing.assert_array_equal(out.pixels, view)


def test_payload_is_the_array_itself_when_it_qualifies() -> None:
    pixels = np.zeros((8, 8), np.uint16)
    _, payload = encode(make_frame(pixels))
    assert payload is pixels  # no copy on the send path


def test_header_fields_are_preserved() -> None:
    geometry = Geometry(
        GeometryKind.SECTOR, {"apex_px": [64.0, -12.5], "angle_deg": 75.0, "depth_mm": 150.0}
    )
    meta = {"probe": "P4-2", "gain_db": 42, "nested": {"list": [1, 2.5, "x", None, True]}}
    frame = make_frame(
        np.ones((4, 6, 3), np.uint8),
        "echo-探头",  # non-ASCII stream ids travel as UTF-8
        2**63 - 1,
        t_capture_ns=2**63 - 1,
        modality="echo",
        spacing_mm=(0.3, 0.45),
        geometry=geometry,
        meta=meta,
    )
    out = _round_trip(frame)
    assert out.stream_id == "echo-探头"
    assert out.seq == 2**63 - 1
    assert out.t_capture_ns == 2**63 - 1
    assert out.modality is Modality.ECHO
    assert out.spacing_mm == (0.3, 0.45)
    assert out.geometry == geometry
    assert dict(out.meta) == meta
    assert out.trace == []


@pytest.mark.parametrize("kind", list(GeometryKind))
def test_every_geometry_kind_round_trips(kind: GeometryKind) -> None:
    geometry = Geometry(kind, {"sid_mm": 1200.0} if kind is GeometryKind.PROJECTION else {})
    assert _round_trip(make_frame(np.zeros((2, 2), np.uint8), geometry=geometry)).geometry == (
        geometry
    )


def test_encoded_header_is_compact_json_with_the_v1_fields() -> None:
    frame = make_frame(np.zeros((2, 3), np.float32), "s", 1, t_capture_ns=5)
    head = encode_header(frame)
    assert b" " not in head
    obj = json.loads(head)
    assert obj == {
        "v": WIRE_VERSION,
        "stream": "s",
        "seq": 1,
        "t_capture_ns": 5,
        "modality": "other",
        "dtype": "float32",
        "shape": [2, 3],
        "spacing_mm": None,
        "geometry": {"kind": "unknown"},
    }  # meta is left out when empty


def test_minimal_header_gets_defaults_and_unknown_keys_are_ignored() -> None:
    minimal = {k: v for k, v in header().items() if k != "modality"}
    minimal["x_vendor_field"] = {"anything": [1, 2]}
    out = decode([json.dumps(minimal).encode(), bytes(6)])
    assert out.modality is Modality.OTHER
    assert out.spacing_mm is None
    assert out.geometry == Geometry()
    assert out.meta == {}
    explicit_nulls = header(spacing_mm=None) | {"spacing_mm": None, "geometry": None, "meta": None}
    out = decode([json.dumps(explicit_nulls).encode(), bytes(6)])
    assert (out.spacing_mm, out.geometry, out.meta) == (None, Geometry(), {})


def test_encode_rejects_what_the_wire_cannot_carry() -> None:
    for dtype in ("complex64", "bool", "float16", "int64", "uint64"):
        with pytest.raises(WireError) as info:
            encode(make_frame(np.zeros((2, 2), dtype)))
        assert info.value.kind == "dtype"
    for shape in ((4,), (2, 2, 2, 2), (2, 2, 5), (0, 3), (MAX_DIM + 1, 1)):
        with pytest.raises(WireError) as info:
            encode(make_frame(np.zeros(shape, np.uint8)))
        assert info.value.kind == "shape"
    with pytest.raises(WireError) as info:
        encode(make_frame(np.zeros((2, 2), np.uint8), meta={"pad": "x" * MAX_HEADER_BYTES}))
    assert info.value.kind == "header_size"


# --- the spec page matches the code ------------------------------------------------------------


def _spec() -> str:
    return SPEC.read_text(encoding="utf-8")


def _block(heading: str, language: str) -> str:
    """The first ``language`` code block under the section titled ``heading``."""
    text = _spec()
    title = re.search(rf"^##+ [0-9.]* ?{heading}$", text, re.M)
    assert title is not None, f"no section {heading!r}"
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, title.end())
    assert match is not None, f"no {language} block under {heading!r}"
    return match.group(1)


def test_spec_worked_example_is_what_the_encoder_sends() -> None:
    header_text = _block("Worked example", "json").strip()
    payload_hex = _block("Worked example", "text").split("payload:")[1].split("\n")[0]
    payload = bytes.fromhex(payload_hex.replace(" ", ""))
    frame = decode([header_text.encode(), payload])
    head, pixels = encode(frame)
    assert head == header_text.encode()  # byte for byte what orstream sends
    assert pixels.tobytes() == payload
    np.testing.assert_array_equal(
        frame.pixels, np.array([[0, 1, 2], [256, 1000, 65535]], dtype=np.uint16)
    )
    framing = _block("Worked example", "text")
    assert f"01 {len(head):02x}" in framing and f"00 {len(payload):02x}" in framing


def test_spec_lists_every_drop_kind_and_limit() -> None:
    text = _spec()
    for kind in DROP_KINDS:
        assert f"`{kind}`" in text
    for dtype in DTYPES:
        assert f"`{dtype}`" in text
    for number in (str(MAX_HEADER_BYTES), str(DEFAULT_MAX_PAYLOAD_BYTES), str(MAX_DIM)):
        assert number in text


def test_spec_python_sender_speaks_v1() -> None:
    namespace: dict[str, Any] = {"__name__": "wire_spec_example"}
    exec(compile(_block("Minimal Python sender", "python"), str(SPEC), "exec"), namespace)
    image = (np.arange(12, dtype=">u2") * 1000).reshape(3, 4)  # big-endian input
    parts = namespace["message"](
        image, "probe-1", 3, spacing_mm=[0.2, 0.2], geometry={"kind": "linear", "width_mm": 38.4}
    )
    frame = decode(parts)
    np.testing.assert_array_equal(frame.pixels, image)
    assert frame.seq == 3
    assert frame.spacing_mm == (0.2, 0.2)
    assert frame.geometry == Geometry(GeometryKind.LINEAR, {"width_mm": 38.4})
