"""The segmentation training loop (a few steps on tiny synthetic data), the ONNX export and
the round trip of an exported model through both CPU backends. No real training here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("onnx")

import itertools

from orstream.kernels import (
    ModelSpec,
    Progress,
    SegTrainConfig,
    build_network,
    export_onnx,
    load_backend,
    load_model,
    mask_dice,
    prefetch,
    train_segmentation,
    warmup_cosine,
    write_sidecar,
)

SIZE = 32
ARCH = {
    "network": "UNet",
    "args": {"channels": [4, 8], "strides": [2], "num_res_units": 1, "norm": "batch"},
}


def _disks(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 (n, 1, 32, 32), y uint8 (n, 32, 32)): a bright disk (class 1) on noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    x = rng.normal(0.2, 0.1, (n, 1, SIZE, SIZE)).astype(np.float32)
    y = np.zeros((n, SIZE, SIZE), np.uint8)
    for i in range(n):
        cy, cx, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(4, 9)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        y[i][inside] = 1
        x[i, 0][inside] += 0.6
    return x, y


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=[pytest.mark.gpu, pytest.mark.skipif(not _cuda(), reason="no CUDA GPU")],
        ),
    ],
)
def test_a_few_steps_lower_the_loss_and_export_an_onnx_both_backends_run(
    device: str, tmp_path: Path
) -> None:
    x, y = _disks(64, seed=1)
    val = [_disks(16, seed=2)]

    def train_batches(epoch: int):  # type: ignore[no-untyped-def]
        order = np.random.default_rng(epoch).permutation(len(x))
        for i in range(0, len(x), 8):
            yield x[order[i : i + 8]], y[order[i : i + 8]]

    network = build_network(ARCH, 1, 2)
    log = io.StringIO()
    config = SegTrainConfig(epochs=4, lr=1e-2, warmup_steps=2, seed=0, threads=1, device=device)
    result = train_segmentation(
        network,
        train_batches,
        val,
        n_classes=2,
        steps_per_epoch=8,
        config=config,
        checkpoint=tmp_path / "best.pt",
        progress=log,
    )
    losses = [r.train_loss for r in result.history]
    assert losses[-1] < losses[0], losses
    assert 1 <= result.best_epoch <= 4 and (tmp_path / "best.pt").exists()
    assert result.best_dice == max(r.val_mean_dice for r in result.history)
    assert "epoch 4/4" in log.getvalue()
    assert next(result.network.parameters()).device.type == "cpu"

    path = tmp_path / "tiny.onnx"
    diff = export_onnx(result.network, path, (SIZE, SIZE))
    assert diff < 1e-4
    spec = ModelSpec(
        name="tiny",
        onnx_path=path,
        input_size=(SIZE, SIZE),
        in_channels=1,
        class_names=("background", "disk"),
        normalization={"kind": "scale", "scale": 1.0},
        architecture=ARCH,
        sha256="",
    )
    write_sidecar(spec)
    spec = load_model(path)
    ort_logits = load_backend(spec, "onnxruntime").run(val[0][0])
    torch_logits = load_backend(spec, "torch", threads=1).run(val[0][0])
    assert ort_logits.shape == (16, 2, SIZE, SIZE)
    assert np.max(np.abs(ort_logits - torch_logits)) < 1e-4
    assert mask_dice(ort_logits.argmax(1), torch_logits.argmax(1), 2) >= 0.99


def test_keep_last_returns_the_final_epochs_weights_whatever_validation_says() -> None:
    import torch

    x, y = _disks(16, seed=1)
    # validation on flipped truth: Dice falls as training learns, so "best" is epoch 1
    vx, vy = _disks(8, seed=2)
    val = [(vx, (1 - vy).astype(np.uint8))]

    def train_batches(epoch: int):  # type: ignore[no-untyped-def]
        for i in range(0, len(x), 8):
            yield x[i : i + 8], y[i : i + 8]

    kept = {}
    for keep in ("best", "last"):
        config = SegTrainConfig(epochs=3, lr=1e-2, warmup_steps=1, threads=1, keep=keep)
        torch.manual_seed(0)
        result = train_segmentation(
            build_network(ARCH, 1, 2),
            train_batches,
            val,
            n_classes=2,
            steps_per_epoch=2,
            config=config,
            progress=None,
        )
        kept[keep] = result
    history = [r.val_mean_dice for r in kept["best"].history]
    # same seed, same batches: the two runs train alike; only the kept weights differ
    assert [r.val_mean_dice for r in kept["last"].history] == pytest.approx(history, abs=1e-5)
    assert kept["best"].best_dice == max(history) and kept["best"].best_epoch < 3, history
    assert kept["last"].best_epoch == 3 and kept["last"].best_dice == history[-1]
    last = kept["last"].network.state_dict()
    best = kept["best"].network.state_dict()
    assert any(not torch.equal(last[k], best[k]) for k in last)
    with pytest.raises(ValueError, match="keep must be"):
        SegTrainConfig(keep="first")


def test_learning_rate_warms_up_then_follows_a_cosine_to_the_floor() -> None:
    config = SegTrainConfig(warmup_steps=10, final_lr_fraction=0.02)
    f = warmup_cosine(config, total_steps=110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.51)
    assert f(110) == pytest.approx(0.02) and f(500) == pytest.approx(0.02)
    values = [f(s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(values))


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"lr": 0.0}, {"threads": 0}])
def test_bad_training_config_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="bad training config"):
        SegTrainConfig(**bad)  # type: ignore[arg-type]


def test_unknown_network_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown network 'ResNet'"):
        build_network({"network": "ResNet", "args": {}}, 1, 2)
    with pytest.raises(ValueError, match="bad arguments for MONAI UNet"):
        build_network({"network": "UNet", "args": {"chanels": [4, 8]}}, 1, 2)


def test_progress_prints_at_most_a_line_per_tenth_off_a_terminal() -> None:
    out = io.StringIO()
    bar = Progress(1000, stream=out)
    for _ in range(1000):
        bar.update("step")
    bar.line("done")
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 12 and lines[-1] == "done" and "100%" in lines[-2]


def test_prefetch_keeps_the_order_and_raises_an_error_where_it_happened() -> None:
    assert list(prefetch(iter(range(20)), depth=2)) == list(range(20))

    def failing():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise ValueError("batch 3 is broken")

    got = []
    with pytest.raises(ValueError, match="batch 3 is broken"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1, 2]


def test_prefetch_stops_its_thread_when_the_consumer_stops_early() -> None:
    import threading

    made = []

    def endless():  # type: ignore[no-untyped-def]
        for i in itertools.count():
            made.append(i)
            yield i

    batches = prefetch(endless(), depth=2)
    assert [next(batches) for _ in range(3)] == [0, 1, 2]
    batches.close()
    assert not any(t.name == "batch-prefetch" for t in threading.enumerate())
    assert len(made) <= 3 + 2 + 2  # taken, queued, and at most one in hand each side
