"""PLUS sequence files (``plus:FILE.igs.mha``): the three real files play with their
transforms; synthetic files cover zlib compression, 16-bit MSB data, transform status, the
recorded timing, ``fps`` and ``loop``; a truncated or corrupt file is one clear line."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from orstream.sim import data_path
from orstream.stream import PlusSource, open_source, read_plus_sequence
from tests._helpers import FAILURE_BOUND_S

REAL = {
    "BkCurvilinearScanConvertedData.igs.mha": (1, 400, 600, {"ReferenceToTracker"}),
    "UltrasonixCurvilinearScanConvertedData.igs.mha": (5, 616, 820, set()),
    "UltrasonixLinearScanConvertedData.igs.mha": (1, 400, 260, set()),
}


def _write(
    path: Path,
    frames: np.ndarray,
    *,
    compressed: bool = False,
    stamps: list[float] | None = None,
    msb: bool = False,
    element: str = "MET_UCHAR",
) -> bytes:
    count, height, width = frames.shape
    data = frames.astype(frames.dtype.newbyteorder(">" if msb else "<")).tobytes()
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        f"BinaryDataByteOrderMSB = {msb}",
        f"CompressedData = {compressed}",
        f"DimSize = {width} {height} {count}",
        "ElementSpacing = 0.2 0.3 1",
        f"ElementType = {element}",
        "UltrasoundImageOrientation = MF",
    ]
    if compressed:
        data = zlib.compress(data)
        lines.append(f"CompressedDataSize = {len(data)}")
    for k in range(count):
        t = stamps[k] if stamps is not None else 10.0 + k * 0.05
        lines += [
            f"Seq_Frame{k:04d}_Timestamp = {t}",
            f"Seq_Frame{k:04d}_ImageStatus = OK",
            f"Seq_Frame{k:04d}_ProbeToTrackerTransform = 1 0 0 {k} 0 1 0 2 0 0 1 3 0 0 0 1",
            f"Seq_Frame{k:04d}_ProbeToTrackerTransformStatus = OK",
            f"Seq_Frame{k:04d}_StylusToTrackerTransform = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1",
            f"Seq_Frame{k:04d}_StylusToTrackerTransformStatus = INVALID",
        ]
    lines.append("ElementDataFile = LOCAL")
    path.write_bytes(("\n".join(lines) + "\n").encode() + data)
    return data


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_plus_files_play_with_their_transforms(name: str) -> None:
    path = data_path("plus-sequences", name)
    if path is None:
        pytest.skip("real data absent (set ORSTREAM_DATA or provide ../shared/data)")
    count, height, width, names = REAL[name]
    source = open_source(f"plus:{path}?fps=200")
    try:
        frames = [source.recv(FAILURE_BOUND_S) for _ in range(count)]
        assert source.recv(0.1) is None and getattr(source, "exhausted", False)
    finally:
        source.close()
    for k, frame in enumerate(frames):
        assert frame is not None
        assert frame.pixels.shape == (height, width) and frame.pixels.dtype == np.uint8
        assert frame.spacing_mm == (1.0, 1.0) and frame.meta["clip_frame"] == k
        assert set(frame.meta["transforms"]) >= names
        assert frame.meta["us_orientation"] == "MFA"
        assert frame.pixels.any()
    if "ReferenceToTracker" in names:
        matrix = np.array(frames[0].meta["transforms"]["ReferenceToTracker"])
        np.testing.assert_allclose(matrix[:3, 3], [300, 400, 700])
    stamps = read_plus_sequence(path).timestamps_s()
    assert stamps is not None and len(stamps) == count


@pytest.mark.parametrize("compressed", [False, True])
def test_synthetic_file_round_trips(tmp_path: Path, compressed: bool) -> None:
    frames = np.random.default_rng(1).integers(0, 4000, (3, 5, 7)).astype(np.uint16)
    path = tmp_path / "s.igs.mha"
    _write(path, frames, compressed=compressed, msb=True, element="MET_USHORT")
    sequence = read_plus_sequence(path)
    np.testing.assert_array_equal(sequence.frames, frames)
    assert sequence.frames.dtype == np.dtype("=u2")
    assert sequence.spacing_mm == (0.3, 0.2)
    assert sequence.orientation == "MF"
    for k, fields in enumerate(sequence.fields):
        assert fields.transforms["ProbeToTracker"][0][3] == k
        assert "StylusToTracker" not in fields.transforms  # its status is INVALID
        assert fields.transform_status["StylusToTracker"] == "INVALID"


def test_recorded_timing_fps_override_and_loop(tmp_path: Path) -> None:
    path = tmp_path / "t.igs.mha"
    _write(path, np.zeros((3, 4, 4), np.uint8), stamps=[5.0, 5.5, 7.0])
    source = PlusSource(read_plus_sequence(path), stream_id="t")
    assert source.offsets_ns == [0, 500_000_000, 2_000_000_000]
    assert source.cycle_ns == 3_000_000_000  # plus the mean period before looping
    fast = open_source(f"plus:{path}?fps=100&loop=1")
    try:
        seen = [fast.recv(FAILURE_BOUND_S) for _ in range(7)]
    finally:
        fast.close()
    assert [f.meta["clip_frame"] for f in seen if f is not None] == [0, 1, 2, 0, 1, 2, 0]
    assert [f.seq for f in seen if f is not None] == list(range(7))
    first = source.recv(FAILURE_BOUND_S)
    assert first is not None and source.recv(0.05) is None  # the second is due 0.5 s later
    source.close()


def test_single_frame_loop_needs_fps(tmp_path: Path) -> None:
    path = tmp_path / "one.igs.mha"
    _write(path, np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"one\.igs\.mha: .*\?fps=F"):
        open_source(f"plus:{path}?loop=1")


def _one_line_error(path: Path) -> str:
    with pytest.raises(ValueError) as info:
        open_source(f"plus:{path}")
    message = str(info.value)
    assert "\n" not in message and message.startswith(path.name)
    return message


def test_truncated_corrupt_and_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    frames = np.arange(2 * 6 * 8, dtype=np.uint8).reshape(2, 6, 8)
    raw = tmp_path / "raw.igs.mha"
    _write(raw, frames)
    raw.write_bytes(raw.read_bytes()[:-10])
    assert "truncated" in _one_line_error(raw)
    packed = tmp_path / "packed.igs.mha"
    data = _write(packed, frames, compressed=True)
    body = bytearray(packed.read_bytes())
    start = len(body) - len(data)
    body[start + 2 : start + 12] = b"\xff" * 10  # corrupt the zlib stream
    packed.write_bytes(bytes(body))
    assert "corrupt compressed" in _one_line_error(packed)
    cut = tmp_path / "cut.igs.mha"
    _write(cut, frames, compressed=True)
    cut.write_bytes(cut.read_bytes()[:-5])
    assert "truncated" in _one_line_error(cut)
    for text, expected in [
        ("ObjectType = Image\nNDims = 3\n", "no ElementDataFile"),
        ("NDims = 3\nDimSize = 8 6\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n", "has 2"),
        ("NDims = 2\nDimSize = 8 6\nElementType = MET_RGB\nElementDataFile = LOCAL\n", "MET_"),
        ("NDims = 2\nDimSize = 8 6\nElementType = MET_UCHAR\nElementDataFile = x.raw\n", "LOCAL"),
        ("NDims = 2\nDimSize = 8 six\nElementDataFile = LOCAL\n", "not numbers"),
        ("just text\nElementDataFile = LOCAL\n", "bad header line"),
    ]:
        bad = tmp_path / "bad.igs.mha"
        bad.write_bytes(text.encode() + bytes(48))
        assert expected in _one_line_error(bad)
    assert "cannot read" in _one_line_error(tmp_path / "missing.igs.mha")
