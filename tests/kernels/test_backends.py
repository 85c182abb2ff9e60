"""Model backends: the ONNX Runtime default, the torch reference, TensorRT where a GPU is;
the same inputs give the same masks on every backend present (parity)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from orstream.kernels import (
    BACKENDS,
    PUBLIC_API,
    Backend,
    ModelSpec,
    OnnxRuntimeBackend,
    available_backends,
    available_models,
    cpu_graph,
    engine_path,
    load_backend,
    load_model,
    mask_dice,
    scalar_prelu_as_leaky_relu,
    segment_images,
    segment_on_device,
    select_backend,
    tensorrt_usable,
    tip_from_heatmap,
)
from orstream.sim import EchoSimulator, FluoroSimulator, UltrasoundSimulator

HAS_TORCH = all(importlib.util.find_spec(m) for m in ("torch", "monai", "onnx"))
TRT_OK, TRT_WHY = tensorrt_usable()
PARITY_MIN_DICE = 0.99
TORCH_MAX_LOGIT_DIFF = 1e-3  # float32 both sides: only summation order differs
TRT_MAX_LOGIT_DIFF = 0.25  # fp16 engine against float32 ONNX Runtime


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return load_model("echo-lv")


@pytest.fixture(scope="module")
def batch(spec: ModelSpec) -> np.ndarray:
    """8 fresh-seed simulator frames (A4C and A2C, seeds outside every training split) and
    one noise image, normalised for the model: float32 (9, 1, 112, 112)."""
    images = []
    for j in range(8):
        sim = EchoSimulator(4_000_000 + j, view=("a4c", "a2c")[j % 2], size=spec.input_size)
        images.append(sim.render(7 * j).image)
    noise = np.random.default_rng(0).integers(0, 256, spec.input_size, dtype=np.uint8)
    return spec.preprocess(np.stack([*images, noise]))


def test_onnxruntime_backend_gives_logits_of_the_model_shape(spec: ModelSpec) -> None:
    backend = load_backend("echo-lv", "onnxruntime")
    assert isinstance(backend, OnnxRuntimeBackend) and isinstance(backend, Backend)
    assert all(hasattr(backend, name) for name in PUBLIC_API)
    assert backend.input_size == (112, 112) and backend.class_names[0] == "background"
    for n in (1, 3):
        x = np.zeros((n, 1, 112, 112), np.float32)
        y = backend.run(x)
        assert y.shape == (n, spec.n_classes, 112, 112) and y.dtype == np.float32


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((1, 1, 64, 64), np.float32),
        np.zeros((1, 112, 112), np.float32),
        np.zeros((1, 1, 112, 112), np.float64),
        np.zeros((0, 1, 112, 112), np.float32),
    ],
)
def test_backend_rejects_a_wrong_input_with_the_expected_shape(bad: np.ndarray) -> None:
    backend = load_backend("echo-lv", "onnxruntime")
    with pytest.raises(ValueError, match=r"float32|takes \(N, 1, 112, 112\)"):
        backend.run(bad)


def test_selector_names_the_known_backends_and_rejects_others() -> None:
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        select_backend("cuda")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        load_backend("nope")
    assert select_backend("onnxruntime") is OnnxRuntimeBackend
    assert "onnxruntime" in available_backends()
    assert set(available_backends()) <= set(BACKENDS)


def test_auto_picks_onnxruntime_without_tensorrt() -> None:
    if TRT_OK:
        pytest.skip("TensorRT is usable here: auto picks it")
    assert load_backend("echo-lv").name == "onnxruntime"


def model_inputs(spec: ModelSpec, n: int = 4) -> np.ndarray:
    """``n`` fresh frames of the model's modality at its input size (seeds outside every
    training split) and one noise image, normalised: float32 (n + 1, 1, H, W)."""
    size = spec.input_size
    modality = spec.name.split("-")[0]
    images = []
    for j in range(n):
        seed = 7_000_000 + j
        if modality == "echo":
            images.append(EchoSimulator(seed, size=size).render(7 * j).image)
        elif modality == "fluoro":
            images.append(FluoroSimulator(seed, size=size, anatomy="random").render(5 * j).image)
        else:
            images.append(UltrasoundSimulator(seed, size=size).render(40 * j).image)
    top = 255 if images[0].dtype == np.uint8 else 65535
    noise = np.random.default_rng(0).integers(0, top, size).astype(images[0].dtype)
    return spec.preprocess(np.stack([*images, noise]))


@pytest.mark.skipif(not HAS_TORCH, reason="torch, monai and onnx are needed (orstream[train])")
@pytest.mark.parametrize("name", available_models())
def test_torch_reference_matches_onnxruntime_for_every_model(name: str) -> None:
    spec = load_model(name)
    batch = model_inputs(spec)
    ort_logits = load_backend(spec, "onnxruntime").run(batch)
    torch_backend = load_backend(spec, "torch", threads=1)
    assert all(hasattr(torch_backend, name) for name in PUBLIC_API)
    torch_logits = torch_backend.run(batch)
    assert (
        ort_logits.shape == torch_logits.shape == (len(batch), spec.out_channels, *spec.input_size)
    )
    diff = float(np.max(np.abs(ort_logits - torch_logits)))
    k = spec.n_classes
    dice = mask_dice(ort_logits[:, :k].argmax(1), torch_logits[:, :k].argmax(1), k)
    print(f"{name}: torch vs onnxruntime max abs logit difference {diff:.2e}, mask Dice {dice:.5f}")
    assert diff < TORCH_MAX_LOGIT_DIFF
    assert dice >= PARITY_MIN_DICE
    if spec.tip_channel is not None:  # the same tip, to a hundredth of a pixel
        for a, b in zip(ort_logits[:, k], torch_logits[:, k], strict=True):
            (xa, ya, pa), (xb, yb, pb) = tip_from_heatmap(a), tip_from_heatmap(b)
            assert np.hypot(xa - xb, ya - yb) < 0.01 and abs(pa - pb) < 1e-3


@pytest.mark.skipif(not HAS_TORCH, reason="torch, monai and onnx are needed (orstream[train])")
def test_torch_backend_refuses_an_onnx_without_the_architecture_weights(
    spec: ModelSpec, tmp_path: Path
) -> None:
    from dataclasses import replace

    other = replace(
        spec,
        architecture={
            "network": "UNet",
            "args": {"channels": [8, 16], "strides": [2], "num_res_units": 0},
        },
    )
    with pytest.raises(ValueError, match="does not hold the weights"):
        load_backend(other, "torch")


def test_tensorrt_without_a_gpu_says_what_to_install(spec: ModelSpec) -> None:
    if TRT_OK:
        pytest.skip("TensorRT and a GPU are present")
    with pytest.raises((ImportError, RuntimeError), match=r"orstream\[gpu\]"):
        load_backend(spec, "tensorrt")


def test_tensorrt_engine_cache_key_has_model_hash_gpu_and_version(
    spec: ModelSpec, tmp_path: Path
) -> None:
    from dataclasses import replace

    path = engine_path(tmp_path, spec, "NVIDIA H100 80GB HBM3", "10.3.0")
    assert path.parent == tmp_path and path.suffix == ".engine"
    assert spec.sha256[:16] in path.name and "nvidia-h100-80gb-hbm3" in path.name
    assert "trt10.3.0" in path.name
    others = {
        engine_path(tmp_path, spec, "NVIDIA L4", "10.3.0"),
        engine_path(tmp_path, spec, "NVIDIA H100 80GB HBM3", "10.4.0"),
        engine_path(tmp_path, replace(spec, sha256="0" * 64), "NVIDIA H100 80GB HBM3", "10.3.0"),
    }
    assert path not in others and len(others) == 3


@pytest.mark.gpu
@pytest.mark.skipif(not TRT_OK, reason=f"TensorRT backend unavailable: {TRT_WHY}")
def test_tensorrt_matches_onnxruntime(spec: ModelSpec, batch: np.ndarray, tmp_path: Path) -> None:
    ort_logits = load_backend(spec, "onnxruntime").run(batch)
    trt_backend = load_backend(spec, "tensorrt", cache_dir=tmp_path)
    trt_logits = trt_backend.run(batch)
    diff = float(np.max(np.abs(ort_logits - trt_logits)))
    dice = mask_dice(ort_logits.argmax(1), trt_logits.argmax(1), spec.n_classes)
    print(f"tensorrt fp16 vs onnxruntime: max abs logit difference {diff:.2e}, Dice {dice:.5f}")
    assert dice >= PARITY_MIN_DICE
    assert diff < TRT_MAX_LOGIT_DIFF
    cached = list(tmp_path.glob("*.engine"))
    assert len(cached) == 1
    again = load_backend(spec, "tensorrt", cache_dir=tmp_path)  # from the cache this time
    np.testing.assert_allclose(again.run(batch), trt_logits, atol=1e-3)


@pytest.mark.parametrize("name", available_models())
def test_cpu_graph_turns_every_scalar_prelu_into_leaky_relu_with_the_same_logits(
    name: str,
) -> None:
    import onnx
    import onnxruntime as ort

    spec = load_model(name)
    original = onnx.load(str(spec.onnx_path))
    assert any(node.op_type == "PRelu" for node in original.graph.node)
    rewritten = onnx.load_from_string(cpu_graph(spec.onnx_path))
    assert not any(node.op_type == "PRelu" for node in rewritten.graph.node)
    x = np.random.default_rng(3).uniform(0, 2, (2, spec.in_channels, *spec.input_size))
    plain = ort.InferenceSession(str(spec.onnx_path), providers=["CPUExecutionProvider"])
    ours = OnnxRuntimeBackend(spec).run(x.astype(np.float32))
    ref = plain.run(None, {"image": x.astype(np.float32)})[0]
    assert float(np.abs(ours - ref).max()) < 1e-4


def test_a_per_channel_or_computed_prelu_slope_is_left_alone() -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    slopes = numpy_helper.from_array(np.array([0.1, 0.2], np.float32).reshape(2, 1, 1), "per_c")
    one = numpy_helper.from_array(np.array([0.25], np.float32), "one")
    graph = helper.make_graph(
        [
            helper.make_node("PRelu", ["x", "per_c"], ["a"]),
            helper.make_node("PRelu", ["a", "x"], ["b"]),  # slope computed at run time
            helper.make_node("PRelu", ["b", "one"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])],
        [slopes, one],
    )
    model = helper.make_model(graph)
    assert scalar_prelu_as_leaky_relu(model) == 1
    ops = [(node.op_type, list(node.input)) for node in model.graph.node]
    assert ops == [("PRelu", ["x", "per_c"]), ("PRelu", ["a", "x"]), ("LeakyRelu", ["b"])]
    assert model.graph.node[2].attribute[0].f == pytest.approx(0.25)
    onnx.checker.check_model(model)


@pytest.mark.skipif(not HAS_TORCH, reason="torch, monai and onnx are needed (orstream[train])")
@pytest.mark.parametrize(
    ("name", "shape"),
    [("echo-lv", (160, 213)), ("echo-lv", (100, 90)), ("us-nerve-vessel", (300, 257))],
)
@pytest.mark.parametrize("resizing", ["opencv", "array-api"])
def test_segmenting_on_the_device_gives_the_host_masks(
    name: str, shape: tuple[int, int], resizing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``segment_on_device`` on CPU torch tensors against ``segment_images`` with ONNX
    Runtime, on frames that are not square, larger than the model input (area shrink) or
    smaller (linear), and a blank one. "array-api": the tensors are resized as GPU arrays are
    (``resize_array_api``), so this runs the GPU's code path on the CPU."""
    import torch

    spec = load_model(name)
    side = min(shape)
    frames = np.zeros((4, *shape), np.uint8)
    for j in range(3):
        if name == "echo-lv":
            image = EchoSimulator(4_100_000 + j, size=(side, side)).render(9 * j).image
        else:
            image = UltrasoundSimulator(4_100_000 + j, size=(side, side)).render(30 * j).image
        frames[j, :side, :side] = image
    want = np.stack(list(segment_images(load_backend(spec, "onnxruntime"), frames)))
    if resizing == "array-api":  # white box: every array resize sees is a tensor from here on
        monkeypatch.setattr("orstream.kernels._prepost.array_kind", lambda _: "gpu")
    got = segment_on_device(load_backend(spec, "torch", threads=1), torch.from_numpy(frames))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.uint8
    assert tuple(got.shape) == frames.shape
    agree = float((got.numpy() == want).mean())
    print(f"{name} {shape} {resizing}: {agree:.5f} of the pixels agree with the host path")
    assert agree >= 0.995 and want[:3].any()
    with pytest.raises(ValueError, match="run_torch"):
        segment_on_device(load_backend(spec, "onnxruntime"), torch.from_numpy(frames))
