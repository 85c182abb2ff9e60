"""``orstream train seg`` (a two-step smoke run, not real training) and ``orstream eval seg``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._helpers import orstream_main


def test_eval_seg_reports_dice_per_class_and_speed_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    code = orstream_main(
        "eval",
        "seg",
        "--model",
        "echo-lv",
        "--samples",
        "6",
        "--json",
        "--out",
        str(out),
        "--speed-frames",
        "20",
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text())
    assert report["frames"] == 6 and report["backend"] == "onnxruntime"
    assert report["test_seeds"] == [3_000_000, 3_000_003]
    lv = report["dice"]["lv_cavity"]
    assert set(lv) == {"n", "mean", "median", "p5", "p95", "min", "max"} and lv["n"] == 6
    assert set(report["dice_by_view"]["lv_cavity"]) == {"a4c", "a2c"}
    assert report["frames_per_s_batch1"] > 0 and report["model_bytes"] > 0


@pytest.mark.parametrize(
    ("model", "samples", "first_line"),
    [
        ("echo-lv", "4", "echo-lv on 4 fresh test frames"),
        ("us-needle", "4", "us-needle on 4 fresh test frames"),
        pytest.param(
            "fluoro-catheter", "60", "fluoro-catheter tracking 60 frames", marks=pytest.mark.slow
        ),
        ("us-nerve-vessel", "3", "us-nerve-vessel on 3 real validation images"),
    ],
)
def test_eval_seg_prints_each_models_report_in_a_few_lines(
    model: str,
    samples: str,
    first_line: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if model == "us-nerve-vessel":
        request.getfixturevalue("real_data")
    args = ["eval", "seg", "--model", model, "--samples", samples, "--speed-frames", "5"]
    assert orstream_main(*args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(first_line) and 3 <= len(lines) <= 12
    assert "thread(s)" in lines[-1]


def test_eval_seg_refuses_an_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert orstream_main("eval", "seg", "--model", "echo-rv") == 2
    assert "unknown model 'echo-rv'" in capsys.readouterr().err


@pytest.mark.slow
def test_train_seg_smoke_run_writes_a_loadable_model_and_report(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    pytest.importorskip("onnx")
    from orstream.kernels import load_backend, load_model

    out = tmp_path / "run"
    code = orstream_main(
        "train",
        "seg",
        "--model",
        "echo-lv",
        "--epochs",
        "1",
        "--samples",
        "32",
        "--val-samples",
        "4",
        "--test-samples",
        "4",
        "--threads",
        "1",
        "--out",
        str(out),
    )
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {
        "echo-lv.onnx",
        "echo-lv.json",
        "best.pt",
        "report.json",
    }
    spec = load_model(out / "echo-lv.onnx")
    assert spec.training["seed"] == 0 and spec.training["data"]["train_frames"] == 32
    assert spec.training["command"].startswith("orstream ")
    assert load_backend(spec, "onnxruntime").run(spec.preprocess([[0] * 112] * 112)).shape == (
        1,
        6,
        112,
        112,
    )
    report = json.loads((out / "report.json").read_text())
    assert len(report["history"]) == 1 and report["test"]["frames"] == 4


def test_train_seg_refuses_an_init_of_another_network(capsys: pytest.CaptureFixture[str]) -> None:
    code = orstream_main("train", "seg", "--model", "fluoro-catheter", "--init", "echo-lv")
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "--init echo-lv" in err and "cannot start this training" in err
    assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_train_seg_init_starts_from_the_shipped_weights(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from orstream.kernels import load_model

    out = tmp_path / "ft"
    args = ["train", "seg", "--model", "echo-lv", "--epochs", "1", "--samples", "32"]
    args += ["--val-samples", "8", "--test-samples", "4", "--threads", "1", "--lr", "1e-6"]
    assert orstream_main(*args, "--init", "echo-lv", "--out", str(out)) == 0
    spec = load_model(out / "echo-lv.onnx")
    shipped = load_model("echo-lv")
    assert spec.training["init"] == {"model": "echo-lv", "sha256": shipped.sha256}
    assert spec.training["command"].endswith("--init echo-lv")
    # two steps at a tiny learning rate leave the shipped model's skill (a fresh init: ~0.1)
    assert min(spec.training["val_dice"]) > 0.8


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu0", "use cpu, cuda or cuda:N"), ("cuda:7", "sees no such CUDA GPU")],
)
def test_train_seg_refuses_a_device_it_cannot_train_on(
    device: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    code = orstream_main("train", "seg", "--model", "us-nerve-vessel", "--device", device)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert f"--device {device}: " in err and message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "us-needle", "--low-dose", "0.5"],
        ["--model", "fluoro-catheter", "--low-dose", "2"],
    ],
)
def test_train_seg_refuses_low_dose_it_cannot_use(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    assert orstream_main("train", "seg", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--low-dose takes a share in [0, 1], for --model fluoro-catheter only" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "seg", "--model", "echo-lv", "--fold", "2"], "applies to --model us-nerve"),
        (["train", "seg", "--model", "us-nerve-vessel", "--fold", "5"], "folds are 0 .. 4"),
        (["eval", "seg", "--model", "us-needle", "--fold", "1"], "applies to --model us-nerve"),
    ],
)
def test_a_fold_other_models_lack_is_a_one_line_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if argv[0] == "train":
        pytest.importorskip("torch")
    assert orstream_main(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_eval_seg_scores_the_asked_fold_with_each_images_dice(
    real_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eval", "seg", "--model", "us-nerve-vessel", "--samples", "3", "--fold", "2"]
    assert orstream_main(*args, "--json", "--speed-frames", "5") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fold"] == 2 and "fold 2" in report["data"]
    names = [p["name"] for p in report["per_image"]]
    assert names == report["val_names"] and len(names) == 3
    from orstream.sim import load_usgra, usgra_folds

    assert set(names) <= set(usgra_folds(load_usgra(real_data))[2])
