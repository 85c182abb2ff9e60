"""Recordings: the file format, crash tolerance, zero-copy reading and the lossless sink."""

from __future__ import annotations

import errno
import logging
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orstream.stream import (
    PAYLOAD_ALIGN,
    Frame,
    Geometry,
    GeometryKind,
    IterableSource,
    Modality,
    Pipeline,
    RecordedMessage,
    RecordingReader,
    RecordingSink,
    RecordingSource,
    RecordingWriter,
    WireError,
    encode_header,
    make_frame,
)
from tests._helpers import FAILURE_BOUND_S, wait_until

CASES = [
    ("uint8", (4, 5)),
    ("uint16", (3, 7)),
    ("int16", (6, 2)),
    ("int32", (2, 2)),
    ("float32", (5, 3)),
    ("float64", (1, 9)),
    ("uint8", (4, 6, 3)),
    ("int8", (2, 3, 4)),
    ("uint32", (3, 3, 1)),
]


def _frame(i: int, dtype: str = "uint8", shape: tuple[int, ...] = (8, 8, 3)) -> Frame:
    rng = np.random.default_rng(i)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        pixels = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    else:
        pixels = rng.standard_normal(shape).astype(dtype)
    return make_frame(
        pixels,
        f"probe-{i % 2}",
        1000 + i,
        t_capture_ns=1_700_000_000_000_000_000 + i * 16_666_667,
        modality=Modality.ECHO,
        spacing_mm=(0.25, 0.3),
        geometry=Geometry(GeometryKind.SECTOR, {"apex_px": [4.0, 0.0], "angle_deg": 75.0}),
        meta={"gain_db": i, "probe": "S5-1"},
    )


def _record(path: Path, frames: list[Frame]) -> None:
    with RecordingWriter(path) as writer:
        for frame in frames:
            writer.append(frame)


def _read(path: Path, **kw: Any) -> tuple[list[Frame], RecordingReader]:
    reader = RecordingReader(path, **kw)
    return list(reader), reader


def _messages(path: Path) -> list[RecordedMessage]:
    with RecordingReader(path) as reader:
        return list(reader.messages())


def _same(a: Frame, b: Frame) -> None:
    assert a.pixels.dtype == b.pixels.dtype and a.pixels.shape == b.pixels.shape
    assert a.pixels.tobytes() == b.pixels.tobytes()
    assert (a.stream_id, a.seq, a.t_capture_ns, a.modality) == (
        b.stream_id,
        b.seq,
        b.t_capture_ns,
        b.modality,
    )
    assert (a.spacing_mm, a.geometry, dict(a.meta)) == (b.spacing_mm, b.geometry, dict(b.meta))


def test_round_trip_is_bit_exact_for_dtypes_and_shapes(tmp_path: Path) -> None:
    frames = [_frame(i, dtype, shape) for i, (dtype, shape) in enumerate(CASES)]
    path = tmp_path / "r.orsrec"
    _record(path, frames)
    got, reader = _read(path)
    assert len(got) == len(frames)
    for sent, back in zip(frames, got, strict=True):
        _same(sent, back)
    assert [m.header for m in reader.messages()] == [encode_header(f) for f in frames]
    assert reader.stats() == {"tail_bytes": 0, "damaged": [], "invalid": 0}
    assert reader.format_version == 1


def test_big_endian_pixels_are_stored_little_endian(tmp_path: Path) -> None:
    pixels = np.arange(12, dtype=">u2").reshape(3, 4)
    _record(tmp_path / "r", [make_frame(pixels, "s", 0)])
    (back,), _ = _read(tmp_path / "r")
    assert back.pixels.dtype == np.dtype("<u2")
    np.testing.assert_array_equal(back.pixels, pixels)


def test_append_parts_stores_the_received_bytes_verbatim(tmp_path: Path) -> None:
    header = (
        b'{ "shape": [2, 2], "dtype": "uint8", "seq": 7, "t_capture_ns": 5, "stream": "x", "v": 1 }'
    )
    with RecordingWriter(tmp_path / "r") as writer:
        writer.append_parts(header, bytearray(b"\x01\x02\x03\x04"))
        with pytest.raises(WireError):
            writer.append_parts(header, b"\x01\x02\x03")  # payload does not match the shape
        with pytest.raises(WireError):
            writer.append_parts(b"not json", b"\x00")
        assert writer.frames == 1
    (message,) = _messages(tmp_path / "r")
    assert message.header == header and bytes(message.payload) == b"\x01\x02\x03\x04"


def test_reader_pixels_are_read_only_aligned_views_on_the_map(tmp_path: Path) -> None:
    _record(tmp_path / "r", [_frame(i, "float64", (5, 7)) for i in range(3)])
    frames, reader = _read(tmp_path / "r")
    for frame in frames:
        base: Any = frame.pixels
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base, memoryview) and base.obj is reader._mm  # no copy
        assert not frame.pixels.flags.writeable and not frame.pixels.flags.owndata
        assert frame.pixels.ctypes.data % PAYLOAD_ALIGN == 0
    reader.close()  # frames still referenced keep the map alive
    assert float(frames[0].pixels.sum()) == float(_frame(0, "float64", (5, 7)).pixels.sum())


def test_existing_file_is_never_overwritten_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "r"
    _record(path, [_frame(0)])
    with pytest.raises(FileExistsError, match="exists"):
        RecordingWriter(path)
    assert len(_read(path)[0]) == 1
    RecordingWriter(path, overwrite=True).close()
    assert _read(path)[0] == []


def test_cut_tail_at_any_offset_of_the_last_record_loses_only_that_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = [_frame(i, "uint8", (4, 4, 3)) for i in range(3)]
    full = tmp_path / "full"
    _record(full, frames)
    data = full.read_bytes()
    last = _messages(full)[-1].offset
    cut_path = tmp_path / "cut"
    for cut in range(last, len(data)):
        cut_path.write_bytes(data[:cut])
        with caplog.at_level(logging.WARNING, "orstream.stream"):
            caplog.clear()
            got, reader = _read(cut_path)
        assert [f.seq for f in got] == [1000, 1001], cut
        assert reader.tail_bytes == cut - last
        assert (len(caplog.records) == 1) == (cut > last), cut
        reader.close()


def test_torn_last_record_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "r"
    _record(path, [_frame(i) for i in range(3)])
    data = bytearray(path.read_bytes())
    last = _messages(path)[-1].offset
    for damage in ("zeros", "flip"):
        torn = bytearray(data)
        if damage == "zeros":  # size grew, blocks never written: reads back as zeros
            torn[last + 100 :] = bytes(len(torn) - last - 100)
        else:
            torn[-1] ^= 0x01
        path.write_bytes(torn)
        with caplog.at_level(logging.WARNING, "orstream.stream"):
            caplog.clear()
            got, reader = _read(path)
        assert len(got) == 2 and reader.tail_bytes == len(data) - last
        assert "ignored the last" in caplog.text
        reader.close()


def test_corruption_in_the_middle_is_skipped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "r"
    _record(path, [_frame(i) for i in range(4)])
    offsets = [m.offset for m in _messages(path)]
    data = bytearray(path.read_bytes())
    data[offsets[1] + 300] ^= 0xFF  # a bit flip in the payload of record 1
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, "orstream.stream"):
        got, reader = _read(path)
    assert [f.seq for f in got] == [1000, 1002, 1003]
    assert reader.damaged == [(offsets[1], offsets[2] - offsets[1])]
    assert reader.tail_bytes == 0
    assert f"damaged bytes {offsets[1]}-{offsets[2]}" in caplog.text
    with pytest.raises(ValueError, match="in the middle of the recording"):
        _read(path, strict=True)


def test_a_recording_with_no_frames_reads_as_empty(tmp_path: Path) -> None:
    RecordingWriter(tmp_path / "r").close()
    got, reader = _read(tmp_path / "r")
    assert got == [] and reader.tail_bytes == 0


def _file_header(version: int = 1) -> bytes:
    fields = struct.pack("<8sHHIQI", b"\x89ORSREC\n", version, 32, 1, 0, 0)
    return fields + struct.pack("<I", zlib.crc32(fields))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file, not an orstream recording"),
        (b"hello, I am a text file\n", "not an orstream recording"),
        (b"\x89ORS", "truncated recording file header"),
        (_file_header()[:20], "truncated recording file header"),
        (_file_header(version=2), "format version 2 is not supported"),
        (_file_header()[:-1] + b"\x00", "damaged recording file header"),
    ],
)
def test_files_that_are_not_readable_recordings_raise_one_clear_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.orsrec"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        RecordingReader(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_sink_is_lossless_under_a_burst_and_bounds_its_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = [_frame(i, "uint8", (16, 16, 3)) for i in range(300)]
    size = frames[0].pixels.nbytes
    sink = RecordingSink(tmp_path / "r", max_queue_bytes=10 * size)
    write_record = sink._writer.write_record
    producer_done = threading.Event()

    def slow_disk(*args: Any) -> None:
        """A disk slower than the stream, by a condition rather than a clock: each record is
        written only once the queue is full (the writer's own record included), so the
        producer has to wait, or once the producer has finished."""
        deadline = time.monotonic() + FAILURE_BOUND_S
        while sink.queued_bytes < 10 * size and not producer_done.is_set():
            assert time.monotonic() < deadline, "the queue never filled"
            time.sleep(0.0001)
        write_record(*args)

    monkeypatch.setattr(sink._writer, "write_record", slow_disk)
    seen: list[int] = []
    for frame in frames:
        sink.write(frame)
        seen.append(sink.frames)  # readable while running
    producer_done.set()
    sink.close()
    assert sink.frames == 300 and sink.lost == 0 and sink.error is None
    assert sink.peak_queued_bytes <= 10 * size and sink.blocked_s > 0
    assert seen == sorted(seen) and seen[-1] <= 300 - 9  # a full queue was still unwritten
    got, _ = _read(tmp_path / "r")
    assert [f.seq for f in got] == [f.seq for f in frames]
    assert all(a.pixels.tobytes() == b.pixels.tobytes() for a, b in zip(frames, got, strict=True))
    assert sink.stats()["bytes"] == (tmp_path / "r").stat().st_size


def test_sink_disk_failure_keeps_what_was_recorded_and_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sink = RecordingSink(tmp_path / "r")
    write_record = sink._writer.write_record
    calls = 0

    def disk_full(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        write_record(*args)

    monkeypatch.setattr(sink._writer, "write_record", disk_full)
    with caplog.at_level(logging.ERROR, "orstream.stream"):
        for i in range(20):  # however fast: frames queued when the disk fails count as lost
            sink.write(_frame(i))
        sink.close()
    assert sink.frames == 5 and sink.lost == 15
    assert isinstance(sink.error, OSError) and "No space left" in caplog.text
    assert [f.seq for f in _read(tmp_path / "r")[0]] == [1000 + i for i in range(5)]
    with pytest.raises(ValueError, match="closed"):
        sink.write(_frame(0))


def test_sink_syncs_an_idle_file(tmp_path: Path) -> None:
    with RecordingSink(tmp_path / "r", fsync_interval_s=0.01) as sink:
        sink.write(_frame(0))
        wait_until(lambda: sink.frames >= 1)
        synced = sink._writer._last_sync
        wait_until(lambda: sink._writer._last_sync > synced)  # no frame came: synced anyway
        assert sink.frames == 1
    assert not sink._thread.is_alive()


def test_pipeline_recording_path_and_recording_source(tmp_path: Path) -> None:
    frames = [_frame(i) for i in range(50)]
    pipeline = Pipeline(IterableSource(frames), recorder=RecordingSink(tmp_path / "r"), live=False)
    summary = pipeline.run()
    assert summary["paths"]["record"]["frames"] == 50
    source = RecordingSource(tmp_path / "r")
    replayed = Pipeline(source, live=False).run()
    assert replayed["paths"]["process"]["frames"] == 50
    assert replayed["source"]["received"] == 50 and source.exhausted


def test_a_killed_writer_leaves_a_readable_file(tmp_path: Path) -> None:
    script = (
        "import sys, numpy as np\n"
        "from orstream.stream import RecordingWriter, make_frame\n"
        "w = RecordingWriter(sys.argv[1])\n"
        "for i in range(10**6):\n"
        "    w.append(make_frame(np.full((64, 64), i % 256, np.uint8), 's', i))\n"
        "    if i == 200: print('ready', flush=True)\n"
    )
    path = tmp_path / "killed.orsrec"
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.kill()
    proc.wait(timeout=30)
    got, reader = _read(path)
    assert len(got) > 200
    assert [f.seq for f in got] == list(range(len(got)))
    assert reader.damaged == [] and reader.tail_bytes < 64 * 64 + 4096
