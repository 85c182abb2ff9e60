"""Sources that play a clip live: ``PacedSource`` (the pacing) and ``CineSource`` behind the
``dicom:`` and ``png:`` URIs. Pacing is checked by lower bounds on capture-time differences
only (a frame never comes early); nothing here asserts how fast a machine is."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from orstream.stream import (
    CineSource,
    Frame,
    Modality,
    PacedSource,
    open_source,
    read_cine,
    write_us_cine,
)
from tests._helpers import FAILURE_BOUND_S

CINE = ("dicom-us", "examples_ybr_color.dcm")  # 30 frames, 320x240, Frame Time 33.333 ms


def _play(source: PacedSource) -> list[Frame]:
    """Every frame until the source ends (each recv waits for its frame, failure bound)."""
    frames = []
    while (frame := source.recv(timeout_s=FAILURE_BOUND_S)) is not None:
        frames.append(frame)
    assert source.exhausted, "recv timed out before the source ended"
    return frames


def _gaps_ns(frames: list[Frame]) -> list[int]:
    times = [f.t_capture_ns for f in frames]
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_dicom_cine_plays_every_frame_in_order_at_its_frame_rate(real_data: Path) -> None:
    path = real_data.joinpath(*CINE)
    source = open_source(f"dicom:{path}")
    assert isinstance(source, CineSource) and source.live
    assert source.fps == pytest.approx(1000.0 / 33.333)
    frames = _play(source)
    assert [f.seq for f in frames] == list(range(30))
    assert [f.meta["clip_frame"] for f in frames] == list(range(30))
    expected = read_cine(path).frames
    for frame, pixels in zip(frames, expected, strict=True):
        assert frame.pixels.shape == (240, 320) and frame.pixels.dtype == np.uint8
        np.testing.assert_array_equal(frame.pixels, pixels)
    assert {(f.stream_id, f.modality, f.spacing_mm) for f in frames} == {
        ("examples_ybr_color", Modality.US, None)  # the file's calibration does not fit it
    }
    assert min(_gaps_ns(frames)) >= 0.8 * 33.333e6  # never early (0.9 periods guaranteed)
    assert source.recv(timeout_s=0) is None and source.exhausted  # it stays ended
    source.close()


def test_uri_options_override_the_file_and_loop_replays(real_data: Path) -> None:
    path = real_data.joinpath(*CINE)
    source = open_source(f"dicom:{path}?stream=a4c&modality=echo&spacing_mm=0.25&fps=500&loop=1")
    assert isinstance(source, CineSource)
    try:
        frames = [source.recv(timeout_s=FAILURE_BOUND_S) for _ in range(65)]
    finally:
        source.close()
    assert all(f is not None for f in frames)
    played = [f for f in frames if f is not None]
    assert [f.seq for f in played] == list(range(65))  # sequence numbers go on
    assert [f.meta["clip_frame"] for f in played] == [k % 30 for k in range(65)]
    assert {(f.stream_id, f.modality, f.spacing_mm) for f in played} == {
        ("a4c", Modality.ECHO, (0.25, 0.25))
    }
    assert source.fps == 500.0 and source.exhausted  # closed


def _cine_without_timing(path: Path) -> Path:
    frames = np.stack([np.full((16, 24), 20 * k, np.uint8) for k in range(4)])
    write_us_cine(path, frames, (0.4, 0.5), 25.0, uid_seed="paced")
    ds = pydicom.dcmread(path)
    for keyword in ("FrameTime", "CineRate", "FrameTimeVector"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.save_as(path)
    return path


def test_a_dicom_file_without_a_frame_time_needs_fps(tmp_path: Path) -> None:
    path = _cine_without_timing(tmp_path / "untimed.dcm")
    with pytest.raises(ValueError, match=r"untimed\.dcm: no frame rate.*\?fps=F") as info:
        open_source(f"dicom:{path}")
    assert "\n" not in str(info.value)
    source = open_source(f"dicom:{path}?fps=200")
    frames = _play(source)
    assert [int(f.pixels[0, 0]) for f in frames] == [0, 20, 40, 60]
    assert {f.spacing_mm for f in frames} == {(0.4, 0.5)}  # the file's calibration
    assert {f.stream_id for f in frames} == {"untimed"}


def test_a_png_folder_plays_live(tmp_path: Path) -> None:
    folder = tmp_path / "apical"
    folder.mkdir()
    for k in range(12):  # names sort as numbers: frame_2 before frame_10
        cv2.imwrite(str(folder / f"frame_{k}.png"), np.full((10, 14), 10 * k, np.uint8))
    source = open_source(f"png:{folder}?fps=50&spacing_mm=0.5")
    assert isinstance(source, CineSource) and source.live
    frames = _play(source)
    assert [int(f.pixels[3, 3]) for f in frames] == [10 * k for k in range(12)]
    assert all(f.pixels.shape == (10, 14) and f.pixels.dtype == np.uint8 for f in frames)
    assert {(f.stream_id, f.modality, f.spacing_mm) for f in frames} == {
        ("apical", Modality.US, (0.5, 0.5))
    }
    assert min(_gaps_ns(frames)) >= 0.8 * 20e6


def test_a_consumer_that_falls_behind_gets_no_burst() -> None:
    """After a stall the schedule moves on from the late frame: capture times stay at least
    (almost) a period apart, and the late frame is counted."""
    source = PacedSource([np.full((2, 2), k, np.uint8) for k in range(8)], fps=100)
    first = source.recv(timeout_s=FAILURE_BOUND_S)
    threading.Event().wait(0.1)  # the consumer stalls for 10 periods
    rest = _play(source)
    assert first is not None and len(rest) == 7
    assert min(_gaps_ns([first, *rest])) >= 0.8 * 10e6
    assert source.late >= 1
    assert source.stats()["received"] == 8


def test_recv_waits_at_most_its_timeout_and_close_wakes_it() -> None:
    source = PacedSource([np.zeros((2, 2), np.uint8)] * 3, fps=0.1, stream_id="slow")
    assert source.recv(timeout_s=FAILURE_BOUND_S) is not None  # the first is due at once
    assert source.recv(timeout_s=0.01) is None  # the next is due in 10 s
    got: list[Frame | None] = []
    waiter = threading.Thread(target=lambda: got.append(source.recv(timeout_s=None)))
    waiter.start()
    source.close()
    waiter.join(FAILURE_BOUND_S)
    assert not waiter.is_alive() and got == [None]
    assert source.exhausted
    source.close()  # idempotent


def test_paced_and_cine_sources_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="at least one image"):
        PacedSource([], fps=10)
    for fps in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="fps must be"):
            PacedSource([np.zeros((2, 2), np.uint8)], fps=fps)
    with pytest.raises(ValueError, match="not a valid Modality"):
        PacedSource([np.zeros((2, 2), np.uint8)], fps=10, modality="xray")
