"""The source/sink URI registry: every scheme of ``orstream.stream`` opens the right thing, and
bad URIs fail with one line."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from orstream.stream import (
    CineSource,
    IterableSource,
    JsonLinesSink,
    RecordingSink,
    RecordingSource,
    RecordingWriter,
    ResourceUri,
    ZmqFrameSource,
    make_frame,
    open_sink,
    open_source,
    parse_uri,
    register_sink,
    register_source,
)


def _one_line_error(call: Any, *args: Any, match: str) -> str:
    with pytest.raises(ValueError, match=match) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def _recording(path: Path, n: int = 3) -> Path:
    with RecordingWriter(path) as writer:
        for i in range(n):
            writer.append(make_frame(np.full((4, 4), i, np.uint8), "r", i))
    return path


def _png_folder(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"frame_{i}.png"), np.full((6, 8), 10 * i, np.uint8))
    return folder


def test_parse_uri_splits_scheme_target_and_query() -> None:
    uri = parse_uri("ZMQ+TCP://127.0.0.1:5555?bind=1&shm=0&bind=0")
    assert (uri.scheme, uri.target) == ("zmq+tcp", "127.0.0.1:5555")
    assert dict(uri.query) == {"bind": "0", "shm": "0"}  # the last value of a key wins
    assert parse_uri("dicom:/data/clip.dcm?fps=30").target == "/data/clip.dcm"
    assert parse_uri("file:///data/r.orsrec").target == "/data/r.orsrec"
    _one_line_error(parse_uri, "/data/clip.dcm", match="not a URI")
    _one_line_error(parse_uri, "clip.dcm", match="not a URI")


def test_resource_uri_options_check_their_values() -> None:
    uri = parse_uri("x:y?fps=25&n=3&loop=1&bad=abc")
    assert uri.number("fps") == 25.0 and uri.number("absent", 7.0) == 7.0
    assert uri.integer("n") == 3 and uri.flag("loop") and not uri.flag("absent")
    _one_line_error(uri.number, "bad", match="not a number")
    _one_line_error(uri.integer, "bad", match="not a whole number")
    _one_line_error(uri.flag, "bad", match="must be 0 or 1")
    _one_line_error(uri.check_keys, {"fps", "n", "loop"}, match=r"unknown option\(s\) \['bad'\]")
    _one_line_error(parse_uri("x:y?fps=0").number, "fps", match="> 0")


@pytest.mark.parametrize("scheme", ["zmq+tcp", "tcp"])
def test_a_tcp_uri_opens_a_live_zeromq_subscriber(scheme: str) -> None:
    source = open_source(f"{scheme}://127.0.0.1:0?bind=1")
    try:
        assert isinstance(source, ZmqFrameSource)
        assert source.live and source.pattern == "sub"
        assert source.last_endpoint.startswith("tcp://127.0.0.1:")
    finally:
        source.close()


@pytest.mark.parametrize("scheme", ["zmq+ipc", "ipc"])
def test_an_ipc_uri_opens_a_zeromq_source(scheme: str, tmp_path: Path) -> None:
    source = open_source(f"{scheme}://{tmp_path / 'feed.ipc'}?pattern=pull")
    try:
        assert isinstance(source, ZmqFrameSource)
        assert source.live and source.pattern == "pull"
        assert source.endpoint.address == f"ipc://{tmp_path / 'feed.ipc'}"
    finally:
        source.close()


@pytest.mark.parametrize("scheme", ["file", "orsrec"])
def test_a_recording_uri_opens_every_frame_in_order_not_live(scheme: str, tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.orsrec")
    source = open_source(f"{scheme}:{path}")
    try:
        assert isinstance(source, RecordingSource) and not source.live
        seqs = []
        while (frame := source.recv()) is not None:
            seqs.append(frame.seq)
        assert seqs == [0, 1, 2] and source.exhausted
    finally:
        source.close()
    _one_line_error(open_source, f"{scheme}:{tmp_path / 'missing.orsrec'}", match="cannot read")


def test_dicom_and_png_uris_open_cine_sources(tmp_path: Path, real_data: Path) -> None:
    dicom = open_source(f"dicom:{real_data / 'dicom-us' / 'examples_ybr_color.dcm'}?fps=60")
    png = open_source(f"png:{_png_folder(tmp_path / 'clip')}?fps=10&spacing_mm=0.3&stream=c")
    try:
        assert isinstance(dicom, CineSource) and dicom.live and dicom.fps == 60.0
        assert isinstance(png, CineSource) and png.live
        assert (png.fps, png.spacing_mm, png.stream_id) == (10.0, (0.3, 0.3), "c")
    finally:
        dicom.close()
        png.close()


@pytest.mark.parametrize("scheme", ["file", "orsrec"])
def test_recording_sink_uris_record_and_refuse_to_overwrite(scheme: str, tmp_path: Path) -> None:
    path = tmp_path / "out.orsrec"
    sink = open_sink(f"{scheme}:{path}")
    assert isinstance(sink, RecordingSink)
    sink.write(make_frame(np.zeros((4, 4), np.uint8), "s", 0))
    sink.close()
    sink.close()  # idempotent
    assert sink.frames == 1
    _one_line_error(open_sink, f"{scheme}:{path}", match="cannot record")
    again = open_sink(f"{scheme}:{path}?overwrite=1")
    again.close()


def test_a_jsonl_uri_opens_a_json_lines_sink(tmp_path: Path) -> None:
    sink = open_sink(f"jsonl:{tmp_path / 'r.jsonl'}")
    assert isinstance(sink, JsonLinesSink)
    sink.close()
    _one_line_error(open_sink, f"jsonl:{tmp_path / 'r.jsonl'}", match="cannot write")
    open_sink(f"jsonl:{tmp_path / 'r.jsonl'}?overwrite=1").close()
    _one_line_error(open_sink, f"jsonl:{tmp_path / 'nowhere' / 'r.jsonl'}", match="cannot write")


def test_unknown_schemes_fail_with_one_line_naming_the_known_ones() -> None:
    message = _one_line_error(open_source, "nope:anything", match="unknown scheme 'nope'")
    assert "dicom" in message and "zmq+tcp" in message
    message = _one_line_error(open_sink, "nope:anything", match="unknown scheme 'nope'")
    assert "jsonl" in message


@pytest.mark.parametrize(
    ("opener", "text"),
    [
        (open_source, "dicom:clip.dcm?fsp=30"),
        (open_source, "png:frames?fps=30&spacing=0.2"),
        (open_source, "file:r.orsrec?loop=1"),
        (open_source, "zmq+tcp://127.0.0.1:5555?bnd=1"),
        (open_sink, "jsonl:r.jsonl?append=1"),
        (open_sink, "file:r.orsrec?fsync=1"),
    ],
)
def test_unknown_options_fail_with_one_line(opener: Any, text: str) -> None:
    _one_line_error(opener, text, match="unknown option")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("dicom:clip.dcm?fps=0", "fps must be"),
        ("dicom:clip.dcm?fps=fast", "not a number"),
        ("dicom:clip.dcm?spacing_mm=-1", "spacing_mm must be"),
        ("dicom:clip.dcm?modality=xray", "modality must be one of echo, fluoro, us, other"),
        ("dicom:clip.dcm?loop=yes", "loop must be 0 or 1"),
        ("dicom:", "no path"),
        ("png:frames", "no frame rate; add \\?fps=F"),
        ("dicom:/no/such/clip.dcm", "no such file"),
    ],
)
def test_bad_cine_options_fail_with_one_line(text: str, match: str) -> None:
    _one_line_error(open_source, text, match=match)


def test_a_module_registers_its_own_scheme() -> None:
    opened: list[ResourceUri] = []

    def open_memory(uri: ResourceUri) -> IterableSource:
        uri.check_keys({"n"})
        opened.append(uri)
        return IterableSource(
            make_frame(np.zeros((2, 2), np.uint8), uri.target, i)
            for i in range(uri.integer("n", 1))
        )

    register_source("test-memory", open_memory)
    source = open_source("test-memory:cam?n=2")
    assert isinstance(source, IterableSource)
    assert [source.recv().seq, source.recv().seq] == [0, 1]  # type: ignore[union-attr]
    assert opened[0].target == "cam"
    _one_line_error(open_source, "test-memory:cam?m=2", match="unknown option")


def test_a_module_registers_its_own_sink_scheme(tmp_path: Path) -> None:
    register_sink("test-lines", lambda uri: JsonLinesSink(tmp_path / uri.target))
    sink = open_sink("test-lines:out.jsonl")
    assert isinstance(sink, JsonLinesSink) and sink.path == tmp_path / "out.jsonl"
    sink.close()


def test_a_scheme_no_module_registered_yet_is_found_through_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A package names the module that registers a scheme in the ``orstream.sources`` entry
    points; the registry imports it the first time the scheme is asked for."""

    class Entry:
        name = "test-lazy"

        def load(self) -> None:
            register_source("test-lazy", lambda uri: IterableSource([]))

    def entry_points(group: str, name: str | None = None) -> list[Entry]:
        entries = [Entry()] if group == "orstream.sources" else []
        return [e for e in entries if name in (None, e.name)]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert isinstance(open_source("test-lazy:x"), IterableSource)
    _one_line_error(open_sink, "test-lazy:x", match="unknown scheme 'test-lazy'")
