"""``orstream segment``: one class-index PNG per image (same name, same size) or per frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from orstream.kernels import tensorrt_usable
from orstream.pipelines import InputReader
from orstream.sim import EchoSimulator
from orstream.stream import RecordingWriter, make_frame, write_us_cine
from tests._helpers import orstream_main


def _frames(n: int, size: tuple[int, int] = (112, 112)) -> list[np.ndarray]:
    sim = EchoSimulator(3_960_000, size=size)
    return [sim.render(9 * i).image for i in range(n)]


def test_folder_of_pngs_gives_masks_with_the_same_names_and_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "in", tmp_path / "masks"
    src.mkdir()
    a, b = _frames(2)
    big = _frames(1, size=(240, 320))[0]  # non-square, larger than the model input
    cv2.imwrite(str(src / "a.png"), a)
    cv2.imwrite(str(src / "b.png"), cv2.cvtColor(b, cv2.COLOR_GRAY2BGR))  # colour PNG
    cv2.imwrite(str(src / "c.png"), big.astype(np.uint16) * 257)  # 16-bit PNG
    (src / "notes.txt").write_text("not an image")
    code = orstream_main(
        "segment",
        str(src),
        "--model",
        "echo-lv",
        "--masks-out",
        str(out),
        "--backend",
        "onnxruntime",
    )
    assert code == 0
    assert "wrote 3 mask(s)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    for name, image in (("a.png", a), ("b.png", b), ("c.png", big)):
        mask = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert mask.shape == image.shape and mask.dtype == np.uint8
        assert mask.max() < 6 and (mask == 1).sum() > 0.02 * mask.size  # the LV is found


def test_png_uri_of_run_names_the_same_folder(tmp_path: Path) -> None:
    """``png:DIR`` (the live source URI of ``orstream run``) reads the folder a bare path does;
    a JPEG beside the PNGs is an image too, and frames are taken in number order."""
    src, out = tmp_path / "in", tmp_path / "masks"
    src.mkdir()
    for name, image in zip(("f2.png", "f10.png", "f3.jpg"), _frames(3), strict=True):
        cv2.imwrite(str(src / name), image)
    with InputReader(f"png:{src}?fps=25") as reader:
        assert (reader.kind, reader.fps, reader.spacing_mm) == ("folder", 25.0, None)
        assert [f.name for f in reader] == ["f2.png", "f3.png", "f10.png"]
    assert (
        orstream_main("segment", f"png:{src}", "--model", "echo-lv", "--masks-out", str(out)) == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["f10.png", "f2.png", "f3.png"]


def test_recording_gives_one_numbered_mask_per_frame(tmp_path: Path) -> None:
    path, out = tmp_path / "clip.orsrec", tmp_path / "masks"
    with RecordingWriter(path) as writer:
        for seq, image in enumerate(_frames(3)):
            writer.append(make_frame(image, "echo", seq, modality="echo"))
    assert (
        orstream_main(
            "segment", f"file:{path}", "--model", "echo-lv", "--masks-out", str(out), "--json"
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["0000.png", "0001.png", "0002.png"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: p, "no images"),
        (lambda p: (p / "x.png").write_bytes(b"not a png") and p / "x.png", "cannot read"),
        (lambda p: p / "missing.orsrec", "no such file or folder"),
        (lambda p: f"png:{p / 'missing'}", "no such folder"),
        (lambda p: f"dicom:{p / 'missing.dcm'}", "no such file"),
        (lambda p: f"png:{p}?loop=1", "unknown option(s) ['loop']"),
        (lambda p: (p / "x.bin").write_bytes(b"neither") and p / "x.bin", "not a folder, an"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    target = make(tmp_path)  # type: ignore[operator]
    code = orstream_main(
        "segment", str(target), "--model", "echo-lv", "--masks-out", str(tmp_path / "out")
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_unknown_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _frames(1)[0])
    code = orstream_main(
        "segment", str(tmp_path), "--model", "echo-rv", "--masks-out", str(tmp_path / "out")
    )
    assert code == 2 and "unknown model 'echo-rv'" in capsys.readouterr().err


def test_dicom_cine_gives_one_numbered_mask_per_frame(tmp_path: Path) -> None:
    path, out = tmp_path / "clip.dcm", tmp_path / "masks"
    write_us_cine(path, np.stack(_frames(4, size=(120, 160))), (0.3, 0.3), 50.0, uid_seed="t")
    assert orstream_main("segment", str(path), "--model", "echo-lv", "--masks-out", str(out)) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["0000.png", "0001.png", "0002.png", "0003.png"]
    assert cv2.imread(str(out / names[0]), cv2.IMREAD_UNCHANGED).shape == (120, 160)


def test_real_a4c_clip_lv_is_found_in_every_frame_and_beats(
    real_data: Path, tmp_path: Path
) -> None:
    """The one real apical four-chamber clip (SonoSite, burned-in text, 30 frames, about one
    beat): the model was never trained on real data; it must find an LV of plausible size in
    every frame, on the screen-right side, whose area changes over the beat."""
    out = tmp_path / "masks"
    src = real_data / "dicom-us" / "examples_ybr_color.dcm"
    assert (
        orstream_main("segment", f"dicom:{src}", "--model", "echo-lv", "--masks-out", str(out)) == 0
    )
    masks = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(out.glob("*.png"))]
    assert len(masks) == 30 and masks[0].shape == (240, 320)
    areas = np.array([(m == 1).sum() for m in masks], float)
    assert (areas > 0.01 * masks[0].size).all() and (areas < 0.2 * masks[0].size).all()
    assert areas.max() / areas.min() > 1.2  # it contracts
    rv_x = [np.nonzero(m == 3)[1].mean() for m in masks if (m == 3).any()]
    lv_x = [np.nonzero(m == 1)[1].mean() for m in masks]
    assert np.median(lv_x) > np.median(rv_x)  # LV on the screen right of the RV (A4C)


def test_a_backend_this_machine_cannot_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if tensorrt_usable()[0]:
        pytest.skip("TensorRT runs here")
    cv2.imwrite(str(tmp_path / "a.png"), _frames(1)[0])
    code = orstream_main(
        "segment",
        str(tmp_path),
        "--model",
        "echo-lv",
        "--masks-out",
        str(tmp_path / "out"),
        "--backend",
        "tensorrt",
    )
    err = capsys.readouterr().err
    assert code == 2 and "orstream[gpu]" in err and len(err.strip().splitlines()) == 1
