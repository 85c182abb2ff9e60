"""Model backends behind one protocol, picked by a selector (pyzmq's ``backend/select.py``).

``load_backend("echo-lv")`` gives the default (TensorRT where a GPU and TensorRT are present,
else ONNX Runtime on the CPU); ``backend="onnxruntime" | "torch" | "tensorrt"`` asks for one.
Every backend runs the same ONNX file (the torch reference rebuilds the network from the
sidecar's architecture and takes its weights from the ONNX initializers), so the same input
gives the same logits within a stated tolerance (``tests/kernels/test_backends.py``).

Optional dependencies (torch, tensorrt) are imported only when their backend is used; a
missing one raises ImportError with the install command.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ._models import ModelSpec, load_model
from ._onnx_cpu import cpu_graph

_log = logging.getLogger("orstream.kernels")

BACKENDS: Final = ("onnxruntime", "torch", "tensorrt")
PUBLIC_API: Final = ("name", "model", "input_size", "class_names", "run")
"""What every backend provides (pyzmq's public_api); tests check each backend against it."""
_IMPLEMENTATIONS: Final = {
    "onnxruntime": ("orstream.kernels._backends", "OnnxRuntimeBackend"),
    "torch": ("orstream.kernels._backends_torch", "TorchBackend"),
    "tensorrt": ("orstream.kernels._backends_trt", "TensorRTBackend"),
}


@runtime_checkable
class Backend(Protocol):
    """Runs one segmentation model.

    ``name``: "onnxruntime", "torch" or "tensorrt"; ``model``: its :class:`ModelSpec`;
    ``input_size``: (H, W) px; ``class_names``: one per logit channel K.
    """

    name: str
    model: ModelSpec
    input_size: tuple[int, int]
    class_names: tuple[str, ...]

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Logits float32 (N, K, H, W) of a normalised float32 (N, C, H, W) batch (host arrays)."""
        ...


def check_input(x: Any, model: ModelSpec) -> npt.NDArray[np.float32]:
    """``x`` as a C-contiguous float32 (N, C, H, W) array; ValueError on a wrong shape/dtype."""
    arr = np.asarray(x)
    if arr.dtype != np.float32:
        raise ValueError(f"model input must be float32; got {arr.dtype}")
    c, (h, w) = model.in_channels, model.input_size
    if arr.ndim != 4 or arr.shape[1:] != (c, h, w) or arr.shape[0] < 1:
        raise ValueError(f"model {model.name} takes (N, {c}, {h}, {w}); got {arr.shape}")
    return np.ascontiguousarray(arr)


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU (CPUExecutionProvider), the default backend.

    ``threads``: intra-op threads (default 1: a pipeline runs its other stages on the other
    cores, and one thread gives the steadiest latency); graph optimisation is fully on (Conv +
    BatchNorm fusion and the like happen at session creation), on the graph as
    :func:`~._onnx_cpu.cpu_graph` rewrites it (single-slope PReLU as LeakyReLU, which fuses
    into the convolution).
    """

    name = "onnxruntime"

    def __init__(self, model: ModelSpec, *, threads: int | None = 1) -> None:
        import onnxruntime as ort

        self.model = model
        self.input_size = model.input_size
        self.class_names = model.class_names
        options = ort.SessionOptions()
        if threads is not None:
            if threads < 0:
                raise ValueError(f"threads must be >= 0 (0: ONNX Runtime's choice); got {threads}")
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            cpu_graph(model.onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Logits float32 (N, K, H, W) of float32 (N, C, H, W), on the CPU."""
        out = self.session.run([self._output], {self._input: check_input(x, self.model)})[0]
        return np.asarray(out, dtype=np.float32)


def tensorrt_usable() -> tuple[bool, str]:
    """(whether the TensorRT backend can run here, why not) without importing TensorRT."""
    if importlib.util.find_spec("tensorrt") is None:
        return False, "tensorrt is not installed (pip install 'orstream[gpu]')"
    if importlib.util.find_spec("torch") is None:
        return False, "torch is not installed (pip install 'orstream[train]')"
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA GPU is visible to torch"
    return True, ""


def available_backends() -> tuple[str, ...]:
    """The backends that can run on this machine, default first."""
    found = ["onnxruntime"] if importlib.util.find_spec("onnxruntime") else []
    if importlib.util.find_spec("torch") and importlib.util.find_spec("onnx"):
        found.append("torch")
    if tensorrt_usable()[0]:
        found.insert(0, "tensorrt")
    return tuple(found)


def select_backend(name: str) -> type[Backend]:
    """The backend class called ``name``; ImportError if its module lacks the public API."""
    if name not in _IMPLEMENTATIONS:
        raise ValueError(f"unknown backend {name!r}; choose auto or one of {', '.join(BACKENDS)}")
    module_name, class_name = _IMPLEMENTATIONS[name]
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    # model, input_size and class_names are set per instance; the class must define the rest.
    if (
        cls is None
        or not isinstance(getattr(cls, "name", None), str)
        or not callable(getattr(cls, "run", None))
    ):
        raise ImportError(f"backend {name} ({module_name}) does not provide {class_name}")
    backend_cls: type[Backend] = cls
    return backend_cls


def load_backend(model: str | Path | ModelSpec, backend: str = "auto", **options: Any) -> Backend:
    """A ready backend running ``model`` (a shipped name, a path, or a :class:`ModelSpec`).

    ``backend``: "auto" (TensorRT if usable and it builds, else ONNX Runtime with a logged
    reason), "onnxruntime", "torch" or "tensorrt"; ``options`` go to the backend (``threads``
    for ONNX Runtime and torch, ``cache_dir`` for TensorRT). Raises ValueError for an unknown
    model or backend and ImportError/RuntimeError, with the install hint, for one that cannot
    run here.
    """
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    if backend != "auto":
        return _construct(backend, spec, options)
    usable, why = tensorrt_usable()
    if usable:
        try:
            return _construct("tensorrt", spec, options)
        except (ImportError, RuntimeError) as exc:  # auto never fails for want of a GPU path
            why = f"TensorRT failed: {str(exc).splitlines()[0] if str(exc) else exc!r}"
            _log.warning("backend auto: %s; using onnxruntime", why)
    _log.debug("backend auto: onnxruntime%s", f" ({why})" if why else "")
    options = {k: v for k, v in options.items() if k == "threads"}
    return _construct("onnxruntime", spec, options)


def _construct(name: str, spec: ModelSpec, options: dict[str, Any]) -> Backend:
    instance: Backend = select_backend(name)(spec, **options)  # type: ignore[call-arg]
    return instance
