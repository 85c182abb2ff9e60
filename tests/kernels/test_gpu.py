"""The GPU paths on a CUDA machine: pre/post-processing on CuPy and CUDA-torch arrays against
the numpy (OpenCV) path, DLPack views that share memory, the torch backend on the GPU against
ONNX Runtime for every shipped model, and frames segmented on the device against the host
path. Skipped where torch sees no CUDA GPU or CuPy is missing (CI); ``scripts/gpu-check``
runs them with the figures printed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cupy = pytest.importorskip("cupy")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible to torch", allow_module_level=True)

from orstream import kernels as K  # noqa: E402, N812

pytestmark = pytest.mark.gpu
RNG = np.random.default_rng(11)
ToDevice = Callable[[np.ndarray[Any, Any]], Any]


def _cupy(a: np.ndarray[Any, Any]) -> Any:
    return cupy.asarray(a)


def _torch(a: np.ndarray[Any, Any]) -> Any:
    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


@pytest.fixture(params=[_cupy, _torch], ids=["cupy", "torch-cuda"])
def to_device(request: pytest.FixtureRequest) -> ToDevice:
    fn: ToDevice = request.param
    return fn


def _on_gpu(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return x.device.type == "cuda"
    return isinstance(x, cupy.ndarray)


def test_normalize_and_class_maps_stay_on_the_device(to_device: ToDevice) -> None:
    frames = RNG.integers(0, 256, (2, 3, 40, 50), dtype=np.uint8)
    x = K.normalize(to_device(frames), [0.4, 0.5, 0.6], [0.2, 0.25, 0.3])
    want = K.normalize(frames, [0.4, 0.5, 0.6], [0.2, 0.25, 0.3])
    assert _on_gpu(x)
    np.testing.assert_allclose(K.to_numpy(x), want, rtol=1e-6, atol=1e-6)
    logits = RNG.normal(size=(2, 4, 30, 30)).astype(np.float32)
    probs = K.softmax(to_device(logits))
    labels = K.argmax_labels(probs)
    assert _on_gpu(probs) and _on_gpu(labels)
    np.testing.assert_allclose(K.to_numpy(probs), K.softmax(logits), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(K.to_numpy(labels), K.argmax_labels(logits))
    np.testing.assert_array_equal(
        K.to_numpy(K.threshold(probs, 0.3)), K.threshold(K.softmax(logits), 0.3)
    )


@pytest.mark.parametrize(
    ("src", "dst"), [((128, 128), (50, 50)), ((534, 534), (256, 256)), ((100, 37), (300, 211))]
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_resize_on_the_device_matches_opencv(
    to_device: ToDevice, src: tuple[int, int], dst: tuple[int, int], dtype: type
) -> None:
    x = (RNG.random((2, *src)) * 255).astype(dtype)
    shrinks = dst[0] <= src[0] and dst[1] <= src[1]
    # float32: within about 1e-5 of the 0..255 range; the H200 run showed up to 1.2e-3 for
    # linear (the GPU and OpenCV round the weighted sums differently)
    for interpolation, tolerance in (
        ("nearest", 0.0),
        ("linear", 1.0 if dtype == np.uint8 else 3e-3),
        ("area", 1.0 if dtype == np.uint8 else 3e-3),
    ):
        if interpolation == "area" and not shrinks:
            with pytest.raises(ValueError, match="only shrinks"):
                K.resize(to_device(x), dst, "area")
            continue
        got = K.resize(to_device(x), dst, interpolation)  # type: ignore[arg-type]
        want = K.resize(x, dst, interpolation)  # type: ignore[arg-type]
        assert _on_gpu(got) and got.dtype == to_device(want).dtype
        assert np.abs(K.to_numpy(got).astype(np.float64) - want).max() <= tolerance


def test_largest_component_and_contours_of_a_device_mask(to_device: ToDevice) -> None:
    mask = np.zeros((64, 80), np.uint8)
    mask[5:15, 5:15] = 1  # 100 px
    mask[30:50, 40:70] = 1  # 600 px: the largest
    mask[50, 70] = 1  # diagonal neighbour of (49, 69): part of it with 8-connectivity only
    for connectivity in (4, 8):
        got = K.largest_component(to_device(mask), connectivity=connectivity)  # type: ignore[arg-type]
        assert _on_gpu(got)
        np.testing.assert_array_equal(
            K.to_numpy(got),
            K.largest_component(mask, connectivity=connectivity),  # type: ignore[arg-type]
        )
    empty = K.largest_component(to_device(np.zeros((8, 8), np.uint8)))
    assert not K.to_numpy(empty).any()
    for a, b in zip(K.contours(to_device(mask)), K.contours(mask), strict=True):
        np.testing.assert_array_equal(a, b)


def test_peaks_and_tip_candidates_of_a_device_map(to_device: ToDevice) -> None:
    yy, xx = np.mgrid[0:96, 0:128]
    logit = np.full((96, 128), -8.0, np.float32)
    for cx, cy, height in ((40.3, 30.7, 9.0), (90.6, 70.2, 6.0)):
        logit = np.maximum(logit, height - ((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0)
    logit = logit.astype(np.float32)
    assert K.subpixel_peak(to_device(logit)) == pytest.approx(K.subpixel_peak(logit), abs=1e-4)
    # float32 sigmoids near 1 differ between libraries in the last bits: 1e-3 px here
    got = K.tip_candidates(to_device(logit))
    want = K.tip_candidates(logit)
    assert len(got) == len(want) == 2
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=5e-3)
    assert K.tip_from_heatmap(to_device(logit)) == pytest.approx(
        K.tip_from_heatmap(logit), abs=5e-3
    )


def test_scan_conversion_on_the_device(to_device: ToDevice) -> None:
    smap = K.SectorMap.fit(120, 64, 140.0, 75.0, (128, 128))
    polar = RNG.random((3, 120, 64)).astype(np.float32)
    got = K.scan_convert(to_device(polar), smap, fill=0.25)
    assert _on_gpu(got) and tuple(got.shape) == (3, 128, 128)
    want = K.scan_convert(polar, smap, fill=0.25)  # numpy (3, ...): the array-API gather
    np.testing.assert_allclose(K.to_numpy(got), want, atol=1e-5)


def test_dlpack_views_share_the_device_memory() -> None:
    t = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    view = K.to_cupy(t)
    assert view.data.ptr == t.data_ptr()
    back = K.match_library(view, t)
    assert isinstance(back, torch.Tensor) and back.data_ptr() == t.data_ptr()
    np.testing.assert_array_equal(K.to_numpy(back), np.arange(12).reshape(3, 4))


@pytest.mark.parametrize("name", K.available_models())
def test_torch_on_the_gpu_matches_onnxruntime(name: str) -> None:
    """The figures go to stdout (``scripts/gpu-check`` shows them): max logit difference and
    mask Dice between torch on the GPU (TF32 convolutions where torch allows them) and ONNX
    Runtime on the CPU, on 8 random frames of the model's input."""
    spec = K.load_model(name)
    frames = RNG.integers(0, 256, (8, *spec.input_size), dtype=np.uint8)
    x = spec.preprocess(frames)
    want = K.load_backend(spec, "onnxruntime", threads=2).run(x)
    gpu = K.load_backend(spec, "torch", device="cuda")
    got = gpu.run(x)
    on_device = gpu.run_torch(torch.from_numpy(x).cuda())  # type: ignore[attr-defined]
    assert on_device.device.type == "cuda"
    # two calls may pick different cuDNN algorithms (TF32): fluoro-catheter's were up to 3.2e-4
    # apart on the H200 (2026-12-04)
    np.testing.assert_allclose(on_device.cpu().numpy(), got, rtol=1e-5, atol=1e-3)
    n = spec.n_classes
    diff = float(np.abs(got[:, :n] - want[:, :n]).max())
    dice = K.mask_dice(got[:, :n].argmax(1), want[:, :n].argmax(1), n)
    print(f"\nGPU-PARITY {name}: torch cuda vs onnxruntime cpu max |logit diff| {diff:.2e}, "
          f"mask Dice {dice:.5f}")  # fmt: skip
    assert dice >= 0.99
    assert diff < 5e-2
    if spec.tip_channel is not None:
        for i in range(len(x)):
            a = K.tip_from_heatmap(got[i, spec.tip_channel])
            b = K.tip_from_heatmap(want[i, spec.tip_channel])
            if max(a[2], b[2]) >= 0.5:
                assert np.hypot(a[0] - b[0], a[1] - b[1]) < 0.05


def test_segmenting_frames_on_the_device_gives_the_host_masks(to_device: ToDevice) -> None:
    """``segment_on_device`` with torch on the GPU against ``segment_images`` with ONNX
    Runtime on the host: 4 echo frames of 160 x 213 px (area shrink to 112 px)."""
    from orstream.sim import EchoSimulator

    frames = np.zeros((4, 160, 213), np.uint8)
    for j in range(4):
        frames[j, :, :160] = EchoSimulator(4_200_000 + j, size=(160, 160)).render(9 * j).image
    spec = K.load_model("echo-lv")
    want = np.stack(list(K.segment_images(K.load_backend(spec, "onnxruntime"), frames)))
    got = K.segment_on_device(K.load_backend(spec, "torch", device="cuda"), to_device(frames))
    assert _on_gpu(got) and tuple(got.shape) == frames.shape
    agree = float((K.to_numpy(got) == want).mean())
    print(f"\nGPU-SEGMENT echo-lv: {agree:.5f} of the pixels agree with the host path")
    assert agree >= 0.995
