"""Ultrasound DICOM and PNG-folder input: every real file, calibration and timing tags, and a
one-line ``ValueError`` for every file that cannot be used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.sequence import Sequence
from pydicom.uid import JPEGLSLossless

from orstream.stream import Cine, read_cine, read_png_folder, write_us_cine

REAL = {
    # name: (frames, rows, cols, frame time ms or None)
    "US1_UNCR.dcm": (1, 480, 640, None),
    "examples_jpeg2k.dcm": (1, 480, 640, None),
    "examples_palette.dcm": (1, 350, 800, None),
    "examples_rgb_color.dcm": (1, 240, 320, None),
    "examples_ybr_color.dcm": (30, 240, 320, 33.333),
}
RNG = np.random.default_rng(3)


@pytest.mark.parametrize("name", sorted(REAL))
def test_every_real_file_decodes(real_data: Path, name: str) -> None:
    n, rows, cols, ms = REAL[name]
    cine = read_cine(real_data / "dicom-us" / name)
    assert isinstance(cine, Cine)
    assert cine.frames.shape == (n, rows, cols) and cine.frames.dtype == np.uint8
    assert cine.frames.flags.c_contiguous
    assert cine.frames.std() > 5  # an image, not a constant
    if ms is None:
        assert cine.fps is None
    else:
        assert cine.fps is not None and 1000.0 / cine.fps == pytest.approx(ms, abs=1e-3)
    # none of these is calibrated for its own pixels (two carry regions of a larger original)
    assert cine.spacing_mm is None
    assert cine.source.startswith(name) and "\n" not in cine.source
    ds = pydicom.dcmread(real_data / "dicom-us" / name, stop_before_pixels=True)
    for ident in (str(ds.get("PatientName", "")), str(ds.get("PatientID", ""))):
        if ident.strip():
            assert ident not in cine.source and all(ident not in n for n in cine.notes)


def test_colour_becomes_luma(real_data: Path) -> None:
    path = real_data / "dicom-us" / "US1_UNCR.dcm"
    rgb = pydicom.dcmread(path).pixel_array
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.abs(read_cine(path).frames[0].astype(int) - ref).max() <= 1


def test_ybr_cine_is_a_moving_heart(real_data: Path) -> None:
    cine = read_cine(real_data / "dicom-us" / "examples_ybr_color.dcm")
    assert np.abs(np.diff(cine.frames.astype(np.int16), axis=0)).mean() > 1.0
    assert any("YBR_FULL_422" in n for n in cine.notes)
    assert any("calibration ignored" in n and "320x240" in n for n in cine.notes)


def test_palette_colour(real_data: Path) -> None:
    cine = read_cine(real_data / "dicom-us" / "examples_palette.dcm")
    assert any("PALETTE COLOR" in n for n in cine.notes)
    assert cine.frames.max() > 200  # the header text is near white


# -- synthetic files -----------------------------------------------------------------------------
def _cine_file(tmp_path: Path, name: str = "clip.dcm", n: int = 4) -> tuple[Path, np.ndarray]:
    frames = RNG.integers(0, 256, (n, 48, 64), dtype=np.uint8)
    path = tmp_path / name
    write_us_cine(path, frames, (0.3, 0.4), 25.0, uid_seed="test")
    return path, frames


def _edit(path: Path, fn: object) -> Path:
    ds = pydicom.dcmread(path)
    fn(ds)  # type: ignore[operator]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_round_trip_with_the_writer(tmp_path: Path) -> None:
    path, frames = _cine_file(tmp_path)
    cine = read_cine(path)
    np.testing.assert_array_equal(cine.frames, frames)
    assert cine.spacing_mm == pytest.approx((0.3, 0.4))
    assert cine.fps == pytest.approx(25.0, rel=1e-6)
    assert "Ultrasound Multi-frame Image Storage" in cine.source
    assert any("region 0 of 1" in n for n in cine.notes)


def test_frame_rate_fallbacks(tmp_path: Path) -> None:
    path, _ = _cine_file(tmp_path)

    def no_frame_time(ds: Dataset) -> None:
        del ds.FrameTime

    assert read_cine(_edit(path, no_frame_time)).fps == 25.0

    def vector_only(ds: Dataset) -> None:
        del ds.CineRate
        ds.FrameTimeVector = [0, 40, 40, 40]

    cine = read_cine(_edit(path, vector_only))
    assert cine.fps == pytest.approx(25.0) and any("Vector" in n for n in cine.notes)

    def nothing(ds: Dataset) -> None:
        del ds.FrameTimeVector

    assert read_cine(_edit(path, nothing)).fps is None


def _region(box: tuple[int, int, int, int], delta_cm: float, kind: int = 1, units: int = 3) -> Any:
    r = Dataset()
    r.RegionSpatialFormat, r.RegionDataType, r.RegionFlags = 1, kind, 0
    r.RegionLocationMinX0, r.RegionLocationMinY0 = box[0], box[1]
    r.RegionLocationMaxX1, r.RegionLocationMaxY1 = box[2], box[3]
    r.PhysicalUnitsXDirection = r.PhysicalUnitsYDirection = units
    r.PhysicalDeltaX = r.PhysicalDeltaY = delta_cm
    return r


def test_region_choice(tmp_path: Path) -> None:
    path, _ = _cine_file(tmp_path)

    def three(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions = Sequence(
            [
                _region((0, 0, 20, 20), 0.02),  # small tissue region
                _region((0, 0, 63, 47), 0.05, kind=2),  # colour flow: larger, not tissue
                _region((10, 5, 60, 45), 0.03),  # the largest tissue region
            ]
        )

    cine = read_cine(_edit(path, three))
    assert cine.spacing_mm == pytest.approx((0.3, 0.3))
    assert any("region 2 of 3" in n and "other 2D regions" in n for n in cine.notes)

    def not_cm(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions = Sequence([_region((0, 0, 63, 47), 0.05, units=4)])
        ds.PixelSpacing = [0.25, 0.5]

    cine = read_cine(_edit(path, not_cm))
    assert cine.spacing_mm == (0.25, 0.5) and any("Pixel Spacing" in n for n in cine.notes)

    def outside(ds: Dataset) -> None:
        ds.SequenceOfUltrasoundRegions = Sequence([_region((0, 0, 127, 95), 0.05)])

    cine = read_cine(_edit(path, outside))
    assert cine.spacing_mm is None and any("calibration ignored" in n for n in cine.notes)


def test_monochrome1_and_16_bit(tmp_path: Path) -> None:
    path, frames = _cine_file(tmp_path)

    def mono1(ds: Dataset) -> None:
        ds.PhotometricInterpretation = "MONOCHROME1"

    np.testing.assert_array_equal(read_cine(_edit(path, mono1)).frames, 255 - frames)

    def sixteen(ds: Dataset) -> None:
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelData = (frames.astype(np.uint16) * 16).tobytes()

    cine = read_cine(_edit(path, sixteen))
    assert np.abs(cine.frames.astype(int) - frames).max() <= 1


# -- files it cannot use -------------------------------------------------------------------------
def _one_line_error(path: Path, *words: str) -> str:
    with pytest.raises(ValueError) as info:
        read_cine(path)
    msg = str(info.value)
    assert "\n" not in msg and path.name in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_not_dicom(tmp_path: Path) -> None:
    for name, data in (
        ("notes.txt", b"hello\n" * 20),
        ("empty.dcm", b""),
        ("noise.dcm", RNG.integers(0, 256, 4000, dtype=np.uint8).tobytes()),
    ):
        (tmp_path / name).write_bytes(data)
        _one_line_error(tmp_path / name, "not a DICOM file")
    with pytest.raises(ValueError, match="folder"):
        read_cine(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        read_cine(tmp_path / "missing.dcm")


def test_truncated(tmp_path: Path, real_data: Path) -> None:
    for name, keep in (("examples_ybr_color.dcm", 0.5), ("US1_UNCR.dcm", 0.99)):
        data = (real_data / "dicom-us" / name).read_bytes()
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(data[: int(len(data) * keep)])
        msg = _one_line_error(cut)
        assert "truncated" in msg or "less than expected" in msg
    path, _ = _cine_file(tmp_path, "short.dcm")
    path.write_bytes(path.read_bytes()[:400])
    _one_line_error(path, "truncated or corrupt")


def test_no_pixel_data(tmp_path: Path) -> None:
    path, _ = _cine_file(tmp_path)

    def strip(ds: Dataset) -> None:
        del ds.PixelData

    _one_line_error(_edit(path, strip), "without pixel data")

    def report(ds: Dataset) -> None:  # e.g. a structured report: no image at all
        for kw in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored"):
            delattr(ds, kw)
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"

    _one_line_error(_edit(path, report), "no pixel data", "Basic Text SR")


def test_undecodable_transfer_syntax(tmp_path: Path) -> None:
    """A broken JPEG-LS frame: one line naming the decoder to install when none is (pylibjpeg),
    one line when the installed decoder (pyjpegls, which highdicom pulls in) rejects it."""
    path, _ = _cine_file(tmp_path, n=1)

    def jpegls(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = JPEGLSLossless
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + b"\x00" * 64])
        ds["PixelData"].VR = "OB"

    if get_decoder(JPEGLSLossless).is_available:
        _one_line_error(_edit(path, jpegls), "cannot decode the pixel data")
    else:
        _one_line_error(_edit(path, jpegls), "JPEG-LS", "pylibjpeg")


def test_unsupported_photometric(tmp_path: Path) -> None:
    path, frames = _cine_file(tmp_path, n=1)

    def hsv(ds: Dataset) -> None:
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.PhotometricInterpretation = "HSV"
        ds.PixelData = np.repeat(frames[..., None], 3, axis=-1).tobytes()

    _one_line_error(_edit(path, hsv), "photometric", "HSV")


# -- PNG folders ---------------------------------------------------------------------------------
def test_png_folder(tmp_path: Path) -> None:
    frames = RNG.integers(0, 256, (12, 30, 40), dtype=np.uint8)
    for i, f in enumerate(frames):  # frame2 sorts before frame10
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), f)
    (tmp_path / "readme.txt").write_text("not a frame")
    cine = read_png_folder(tmp_path, 30.0, 0.5)
    np.testing.assert_array_equal(cine.frames, frames)
    assert cine.spacing_mm == (0.5, 0.5) and cine.fps == 30.0 and "12 PNG frames" in cine.source
    assert read_png_folder(tmp_path, None, (0.3, 0.4)).spacing_mm == (0.3, 0.4)
    with pytest.raises(ValueError, match="fps"):
        read_png_folder(tmp_path, 0.0, 0.5)
    with pytest.raises(ValueError, match="spacing"):
        read_png_folder(tmp_path, 30.0, -1.0)


def test_png_folder_16_bit_colour_and_errors(tmp_path: Path) -> None:
    grey = RNG.integers(0, 4096, (3, 20, 24), dtype=np.uint16)  # 12-bit data in 16-bit PNGs
    # known answers worked out by hand: 12-bit full scale (4095) is white, v -> v * 255 / 4095
    grey[0, 0, :6] = [0, 1, 16, 2047, 2048, 4095]
    for i, f in enumerate(grey):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), f)
    cine = read_png_folder(tmp_path, 25.0, None)
    assert cine.frames.dtype == np.uint8 and cine.spacing_mm is None
    assert cine.frames[0, 0, :6].tolist() == [0, 0, 1, 127, 128, 255]
    order = np.argsort(grey, axis=None, kind="stable")  # brighter stays brighter
    assert (np.diff(cine.frames.ravel()[order].astype(int)) >= 0).all()
    ten_bit = tmp_path / "ten-bit"  # full scale is the bit depth the largest value needs
    ten_bit.mkdir()
    cv2.imwrite(str(ten_bit / "a.png"), np.array([[0, 4, 512, 1023]], np.uint16))
    assert read_png_folder(ten_bit, 25.0, None).frames[0].tolist() == [[0, 1, 128, 255]]
    colour = tmp_path / "colour"
    colour.mkdir()
    bgr = RNG.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    cv2.imwrite(str(colour / "a.png"), bgr)
    cv2.imwrite(str(colour / "b.png"), np.zeros((20, 25), np.uint8))
    with pytest.raises(ValueError, match=r"b\.png.*one size"):
        read_png_folder(colour, 25.0, 0.5)
    (colour / "b.png").unlink()
    assert (
        read_png_folder(colour, 25.0, 0.5).frames[0].tolist()
        == cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).tolist()
    )
    (colour / "c.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"c\.png"):
        read_png_folder(colour, 25.0, 0.5)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no \.png"):
        read_png_folder(empty, 25.0, 0.5)


def test_damaged_files_never_raise_anything_else(tmp_path: Path, real_data: Path) -> None:
    """Flipped, cut and removed bytes: a Cine or a one-line ValueError, nothing else."""
    synthetic, _ = _cine_file(tmp_path, "base.dcm")
    sources = [
        synthetic.read_bytes(),
        (real_data / "dicom-us" / "examples_ybr_color.dcm").read_bytes(),
    ]
    rng = np.random.default_rng(11)
    out = tmp_path / "damaged.dcm"
    for it in range(80):
        b = bytearray(sources[it % 2])
        if it % 3 == 0:
            for _ in range(int(rng.integers(1, 20))):
                b[int(rng.integers(0, min(len(b), 4000)))] = int(rng.integers(0, 256))
        elif it % 3 == 1:
            b = b[: int(rng.integers(132, len(b)))]
        else:
            i = int(rng.integers(132, 3000))
            del b[i : i + int(rng.integers(1, 16))]
        out.write_bytes(bytes(b))
        try:
            cine = read_cine(out)
        except ValueError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("damaged.dcm")
        else:
            assert cine.frames.ndim == 3 and cine.frames.dtype == np.uint8
