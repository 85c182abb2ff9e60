"""TensorRT backend: an fp16 engine built from the shipped ONNX, cached per model, GPU and
TensorRT version, run on torch CUDA tensors.

The engine is built once (``trt.Builder`` + ``OnnxParser``, FP16 flag, one optimisation profile
for batch 1..``max_batch``) and saved under ``~/.cache/orstream/trt/`` (``$XDG_CACHE_HOME``
respected, or ``cache_dir``) as ``NAME-SHA[:16]-GPU-trtVERSION.engine``: a new ONNX file, another
GPU or another TensorRT version builds a new engine. Needs ``tensorrt`` >= 10 and a CUDA build
of torch (``pip install 'orstream[gpu]'``) on an NVIDIA GPU; without them it raises
ImportError/RuntimeError saying what is missing.

Status: not run yet (written against the TensorRT 10 Python API; the one GPU machine this
project was lent had no TensorRT, see docs/benchmarks/gpu.md); the CPU tests check
the cache key and the error path only.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._backends import check_input
from ._models import ModelSpec

GPU_HINT: Final = (
    "pip install 'orstream[gpu]' (TensorRT 10, CUDA 12) on a machine with an NVIDIA GPU"
)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/orstream/trt`` (``~/.cache/orstream/trt`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orstream" / "trt"


def engine_path(cache_dir: Path, model: ModelSpec, gpu_name: str, trt_version: str) -> Path:
    """The cache file of ``model``'s engine for ``gpu_name`` and TensorRT ``trt_version``."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower() or "gpu"
    version = re.sub(r"[^0-9.]+", "", trt_version) or "unknown"
    return cache_dir / f"{model.name}-{model.sha256[:16]}-{gpu}-trt{version}.engine"


def _imports() -> tuple[Any, Any]:
    try:
        trt = importlib.import_module("tensorrt")  # no stubs; imported only when used
    except ImportError as exc:
        raise ImportError(f"the tensorrt backend needs TensorRT: {GPU_HINT}") from exc
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"the tensorrt backend runs on torch CUDA tensors: {GPU_HINT}") from exc
    if not torch.cuda.is_available():
        raise RuntimeError(f"the tensorrt backend needs a CUDA GPU and none is visible: {GPU_HINT}")
    return trt, torch


def build_engine(trt: Any, model: ModelSpec, max_batch: int, workspace_bytes: int) -> bytes:
    """A serialised fp16 engine of ``model``'s ONNX (batch 1..``max_batch``, opt 1)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {model.onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    fp16 = getattr(trt.BuilderFlag, "FP16", None)  # every GPU TensorRT 10 supports has fp16
    if fp16 is not None:
        config.set_flag(fp16)
    profile = builder.create_optimization_profile()
    c, (h, w) = model.in_channels, model.input_size
    profile.set_shape(model.input_name, (1, c, h, w), (1, c, h, w), (max_batch, c, h, w))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine for {model.onnx_path.name}")
    return bytes(serialized)


class TensorRTBackend:
    """TensorRT fp16 engine on CUDA device ``device`` (default 0).

    ``run`` takes and returns host numpy arrays (one copy each way); ``run_torch`` keeps
    CUDA tensors on the device. ``max_batch``: largest batch the engine takes.
    """

    name = "tensorrt"

    def __init__(
        self,
        model: ModelSpec,
        *,
        cache_dir: Path | None = None,
        device: int = 0,
        max_batch: int = 32,
        workspace_bytes: int = 1 << 30,
        threads: int | None = None,  # accepted for a uniform signature; unused on the GPU
    ) -> None:
        trt, torch = _imports()
        self._trt, self._torch = trt, torch
        self.model = model
        self.input_size = model.input_size
        self.class_names = model.class_names
        self.max_batch = max_batch
        self.device = torch.device("cuda", device)
        gpu_name = torch.cuda.get_device_name(self.device)
        self.engine_file = engine_path(
            cache_dir or default_cache_dir(), model, gpu_name, str(trt.__version__)
        )
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = None
        if self.engine_file.exists():
            engine = runtime.deserialize_cuda_engine(self.engine_file.read_bytes())
        if engine is None:  # no cache, or a stale/corrupt one: build and (re)write it
            blob = build_engine(trt, model, max_batch, workspace_bytes)
            self.engine_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.engine_file.with_suffix(".tmp")
            tmp.write_bytes(blob)
            tmp.replace(self.engine_file)
            engine = runtime.deserialize_cuda_engine(blob)
        self.engine = engine
        self.context = engine.create_execution_context()
        self._stream = torch.cuda.Stream(self.device)

    def run_torch(self, x: Any) -> Any:
        """float32 (N, K, H, W) CUDA logits of a float32 (N, C, H, W) CUDA tensor."""
        torch = self._torch
        n = int(x.shape[0])
        if not 1 <= n <= self.max_batch:
            raise ValueError(f"batch {n} is outside the engine's 1..{self.max_batch}")
        x = x.to(self.device, torch.float32).contiguous()
        h, w = self.input_size
        out = torch.empty(
            (n, self.model.out_channels, h, w), dtype=torch.float32, device=self.device
        )
        self.context.set_input_shape(self.model.input_name, tuple(x.shape))
        self.context.set_tensor_address(self.model.input_name, x.data_ptr())
        self.context.set_tensor_address(self.model.output_name, out.data_ptr())
        with torch.cuda.stream(self._stream):
            if not self.context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
        self._stream.synchronize()
        return out

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Logits float32 (N, K, H, W) of float32 (N, C, H, W) host arrays (batched by
        ``max_batch``)."""
        arr = check_input(x, self.model)
        torch = self._torch
        parts = [
            self.run_torch(torch.from_numpy(arr[i : i + self.max_batch]).to(self.device))
            .cpu()
            .numpy()
            for i in range(0, len(arr), self.max_batch)
        ]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
