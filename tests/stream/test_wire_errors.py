"""Wire protocol v1, malformed messages: one targeted message per WireError kind, the order of
the checks, and fuzzing (decode never raises anything but WireError)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orstream.stream import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DROP_KINDS,
    DTYPES,
    MAX_DIM,
    MAX_HEADER_BYTES,
    MAX_STREAM_ID_CHARS,
    Geometry,
    GeometryKind,
    Modality,
    WireError,
    decode,
    encode_header,
    make_frame,
    parse_header,
)
from tests._helpers import header, header_bytes


def _kind(parts: list[Any], **kwargs: Any) -> str:
    with pytest.raises(WireError) as info:
        decode(parts, **kwargs)
    assert info.value.kind in DROP_KINDS
    return info.value.kind


# --- limits ------------------------------------------------------------------------------------


def test_header_may_carry_whitespace_up_to_the_limit() -> None:
    text = header_bytes()
    padded = b"\n " + text + b" " * (MAX_HEADER_BYTES - len(text) - 2)
    assert len(padded) == MAX_HEADER_BYTES
    assert decode([padded, bytes(6)]).stream_id == "cam"
    assert _kind([padded + b" ", bytes(6)]) == "header_size"


def test_payload_limit_is_inclusive() -> None:
    head = header_bytes(shape=[10, 10])
    assert decode([head, bytes(100)], max_payload_bytes=100).pixels.size == 100
    assert _kind([head, bytes(101)], max_payload_bytes=100) == "payload_size"
    assert _kind([head, bytes(6)], max_payload_bytes=99) == "payload_size"  # declared 100 B
    assert DEFAULT_MAX_PAYLOAD_BYTES == 256 * 1024 * 1024


# --- one targeted message per kind -------------------------------------------------------------

GOOD = [header_bytes(), bytes(6)]

TARGETED: dict[str, list[list[Any]]] = {
    "parts": [[], [header_bytes()], [*GOOD, b""], [*GOOD, *GOOD]],
    "header_size": [[b" " * (MAX_HEADER_BYTES + 1), bytes(6)], [b"\xff" * 20000, b""]],
    "payload_size": [
        [header_bytes(shape=[2, 3]), bytes(DEFAULT_MAX_PAYLOAD_BYTES + 1)],
        [header_bytes(shape=[MAX_DIM, MAX_DIM, 4], dtype="float64"), bytes(6)],  # declares 32 GiB
        [header_bytes(shape=[16385, 16384], dtype="uint8"), b""],  # declares limit + 16 KiB
    ],
    "utf8": [[b"\xff\xfe{}", bytes(6)], [b'{"v":1,"stream":"\xc3\x28"}', bytes(6)]],
    "json": [
        [b"{not json", bytes(6)],
        [b"", bytes(6)],
        [b"[1, 2]", bytes(6)],
        [b'"a string"', bytes(6)],
        [b"\xef\xbb\xbf" + header_bytes(), bytes(6)],  # a byte order mark
        [header_bytes(spacing_mm=[0.1, 0.1]).replace(b"0.1]", b"NaN]"), bytes(6)],
        [header_bytes(meta={"x": 1}).replace(b"1}", b"Infinity}"), bytes(6)],
        [b'{"v": 1, "meta": ' + b"[" * 5000 + b"]" * 5000 + b"}", bytes(6)],
        [b'{"v": ' + b"9" * 5000 + b"}", bytes(6)],  # an integer beyond Python's digit limit
    ],
    "version": [
        [header_bytes(v=None), bytes(6)],
        [header_bytes(v=2), bytes(6)],
        [header_bytes(v="1"), bytes(6)],
        [header_bytes(v=True), bytes(6)],
        [header_bytes(v=1.0), bytes(6)],
        [header_bytes(v=[1]), bytes(6)],
        [header_bytes(v=0), bytes(6)],
    ],
    "field": [
        [header_bytes(stream=None), bytes(6)],
        [header_bytes(stream=""), bytes(6)],
        [header_bytes(stream="x" * (MAX_STREAM_ID_CHARS + 1)), bytes(6)],
        [header_bytes(stream=7), bytes(6)],
        [header_bytes(seq=None), bytes(6)],
        [header_bytes(seq=-1), bytes(6)],
        [header_bytes(seq=2**63), bytes(6)],
        [header_bytes(seq=1.0), bytes(6)],
        [header_bytes(seq=True), bytes(6)],
        [header_bytes(t_capture_ns="now"), bytes(6)],
        [header_bytes(t_capture_ns=-5), bytes(6)],
        [header_bytes(modality="mri"), bytes(6)],
        [header_bytes(modality=["us"]), bytes(6)],
        [header_bytes(modality={"a": 1}), bytes(6)],
        [json.dumps(header() | {"modality": None}).encode(), bytes(6)],
        [header_bytes(spacing_mm=[0.1]), bytes(6)],
        [header_bytes(spacing_mm=[0.1, 0.0]), bytes(6)],
        [header_bytes(spacing_mm=[-0.1, 0.2]), bytes(6)],
        [header_bytes(spacing_mm=["0.1", 0.2]), bytes(6)],
        [header_bytes(spacing_mm=[True, 0.2]), bytes(6)],
        [header_bytes(spacing_mm=[10**400, 0.2]), bytes(6)],
        [header_bytes(spacing_mm=[1e308 * 10, 0.2]).replace(b"Infinity", b"1e999"), bytes(6)],
        [header_bytes(spacing_mm={"row": 1, "col": 1}), bytes(6)],
        [header_bytes(geometry={"kind": "cylinder"}), bytes(6)],
        [header_bytes(geometry={"kind": ["sector"]}), bytes(6)],
        [header_bytes(geometry={"kind": None}), bytes(6)],
        [header_bytes(geometry="sector"), bytes(6)],
        [header_bytes(meta=[1, 2]), bytes(6)],
        [header_bytes(meta="x"), bytes(6)],
    ],
    "dtype": [
        [header_bytes(dtype=None), bytes(6)],
        [header_bytes(dtype="complex64"), bytes(6)],
        [header_bytes(dtype="float16"), bytes(6)],
        [header_bytes(dtype="<u2"), bytes(6)],
        [header_bytes(dtype="UINT8"), bytes(6)],
        [header_bytes(dtype=["uint8"]), bytes(6)],
    ],
    "shape": [
        [header_bytes(shape=None), bytes(6)],
        [header_bytes(shape=[6]), bytes(6)],
        [header_bytes(shape=[1, 2, 3, 1]), bytes(6)],
        [header_bytes(shape=[0, 6]), bytes(0)],
        [header_bytes(shape=[MAX_DIM + 1, 1]), bytes(6)],
        [header_bytes(shape=[2, 3, 5]), bytes(30)],
        [header_bytes(shape=[2, 3, 0]), bytes(0)],
        [header_bytes(shape=[2.0, 3]), bytes(6)],
        [header_bytes(shape=["2", 3]), bytes(6)],
        [header_bytes(shape=[True, 6]), bytes(6)],
        [header_bytes(shape="2x3"), bytes(6)],
    ],
    "payload_mismatch": [
        [header_bytes(), bytes(5)],
        [header_bytes(), bytes(7)],
        [header_bytes(), b""],
        [header_bytes(dtype="uint16"), bytes(6)],
        [header_bytes(shape=[16384, 16384], dtype="uint8"), b""],  # declares exactly the limit
        [json.dumps(header() | {"shm": None}).encode(), bytes(12)],  # null shm: no shm
    ],
    "shm": [  # orstream's same-host extension; a plain decode (no shm reader) refuses it
        [header_bytes(shm={"segment": "orstream-x", "offset": 64, "nbytes": 6, "gen": 2}), b""],
        [header_bytes(shm={"segment": "orstream-x", "offset": 64, "nbytes": 6, "gen": 2}), b"x"],
        [header_bytes(shm="anything"), b""],
    ],
}
UNTARGETED = {"overrun"}  # needs a live shared-memory ring: tests/stream/test_shm.py


def test_targeted_messages_cover_every_kind() -> None:
    assert set(TARGETED) | UNTARGETED == set(DROP_KINDS)


@pytest.mark.parametrize(
    ("kind", "parts"),
    [(kind, parts) for kind, cases in TARGETED.items() for parts in cases],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_targeted_message_raises_its_kind(kind: str, parts: list[Any]) -> None:
    assert _kind(parts) == kind


def test_the_first_failing_check_names_the_kind() -> None:
    """Checks run in DROP_KINDS order (spacing, geometry and meta after shape)."""
    assert _kind([b"\xff" * 20000]) == "parts"
    assert _kind([b"\xff" * 20000, bytes(10)], max_payload_bytes=5) == "header_size"
    assert _kind([b"\xff", bytes(10)], max_payload_bytes=5) == "payload_size"
    assert _kind([header_bytes(v=2, stream=""), b""]) == "version"
    assert _kind([header_bytes(stream="", dtype="x"), b""]) == "field"
    assert _kind([header_bytes(dtype="x", shape=[0]), b""]) == "dtype"
    assert _kind([header_bytes(shape=[0], spacing_mm="x"), b""]) == "shape"
    assert _kind([header_bytes(spacing_mm="x", shape=[MAX_DIM, MAX_DIM]), b""]) == "field"
    assert _kind([header_bytes(shape=[MAX_DIM, MAX_DIM], shm="x"), b""]) == "payload_size"
    assert _kind([header_bytes(shm="x"), bytes(3)]) == "shm"  # before the payload length
    assert _kind([header_bytes(), bytes(3)]) == "payload_mismatch"


def test_wire_error_is_a_value_error_with_a_kind() -> None:
    err = WireError("json", "header is not JSON")
    assert isinstance(err, ValueError)
    assert err.kind == "json"
    assert str(err) == "json: header is not JSON"


def test_parse_header_normalises() -> None:
    fields = parse_header(header_bytes(spacing_mm=[1, 2], geometry={"kind": "linear", "w": 1}))
    assert fields["spacing_mm"] == (1.0, 2.0)
    assert fields["geometry"] == Geometry(GeometryKind.LINEAR, {"w": 1})


# --- fuzzing: decode never raises anything but WireError ---------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
_field_values = {
    "v": st.sampled_from([1, 1.0, 2, True, "1", None]) | _json_values,
    "stream": st.sampled_from(["a", "", "x" * 200]) | _json_values,
    "seq": st.sampled_from([0, -1, 2**63, 2**63 - 1]) | _json_values,
    "t_capture_ns": st.sampled_from([0, 2**64]) | _json_values,
    "modality": st.sampled_from([m.value for m in Modality]) | _json_values,
    "dtype": st.sampled_from(sorted(DTYPES)) | _json_values,
    "shape": st.lists(st.integers(-2, 40), min_size=0, max_size=4) | _json_values,
    "spacing_mm": st.lists(st.floats() | st.integers(-(2**1100), 2**1100), min_size=0, max_size=3)
    | _json_values,
    "geometry": st.fixed_dictionaries(
        {}, optional={"kind": st.sampled_from([k.value for k in GeometryKind]) | _json_values}
    )
    | _json_values,
    "meta": _json_values,
}
_headers = st.fixed_dictionaries({}, optional=_field_values)
_overrides = st.lists(st.sampled_from(sorted(_field_values)), max_size=2, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: _field_values[k] for k in keys})
)
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _decode_only_wire_errors(parts: list[Any]) -> None:
    try:
        frame = decode(parts)
    except WireError as exc:
        assert exc.kind in DROP_KINDS
    else:
        assert frame.pixels.nbytes == memoryview(parts[1]).nbytes


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=4))
def test_fuzz_arbitrary_parts(parts: list[bytes]) -> None:
    _decode_only_wire_errors(parts)


@FUZZ
@given(_headers, st.binary(max_size=64))
def test_fuzz_structured_headers(fields: dict[str, Any], payload: bytes) -> None:
    _decode_only_wire_errors([json.dumps(fields).encode(), payload])


@FUZZ
@given(_overrides, st.sets(st.sampled_from(sorted(_field_values)), max_size=1), st.binary())
def test_fuzz_valid_header_with_bad_fields(
    overrides: dict[str, Any], removed: set[str], payload: bytes
) -> None:
    """One or two fields of an otherwise valid header replaced (reaches the later checks)."""
    fields = {k: v for k, v in (header() | overrides).items() if k not in removed}
    _decode_only_wire_errors([json.dumps(fields).encode(), payload])


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.integers(0, 400),
    st.binary(max_size=12),
)
def test_fuzz_mutated_valid_header(flips: list[tuple[int, int]], cut: int, payload: bytes) -> None:
    data = bytearray(
        encode_header(
            make_frame(
                np.zeros((2, 3), np.uint16),
                spacing_mm=(0.5, 0.5),
                geometry=Geometry(GeometryKind.SECTOR, {"angle_deg": 60.0}),
                meta={"k": [1, 2]},
            )
        )
    )
    for index, value in flips:
        if data:
            data[index % len(data)] = value
    _decode_only_wire_errors([bytes(data[: max(cut, 1)]), payload])
    _decode_only_wire_errors([bytes(data), payload])
