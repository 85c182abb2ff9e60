"""Which library an array belongs to, and moving arrays between libraries without copies.

The pre/post-processing kernels take numpy, CuPy or torch arrays. Operations outside the array
API standard dispatch on :func:`array_kind`: numpy and CPU torch (a zero-copy numpy view) go to
OpenCV, CuPy and GPU torch to CuPy (torch through DLPack, no copy). CuPy is imported lazily,
with an install hint, so nothing here needs a GPU.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

import array_api_compat as aac
import numpy as np
import numpy.typing as npt

Array = Any
"""An array of any array-API library (numpy, CuPy, torch); shapes and dtypes in docstrings."""


def array_kind(x: Array) -> Literal["numpy", "torch_cpu", "gpu"]:
    """Which dispatch path serves ``x``: numpy, torch on the CPU (numpy view) or a GPU array."""
    if aac.is_numpy_array(x):
        return "numpy"
    if aac.is_torch_array(x) and x.device.type == "cpu":
        return "torch_cpu"
    if aac.is_cupy_array(x) or aac.is_torch_array(x):
        return "gpu"
    raise TypeError(f"unsupported array type {type(x).__name__}: use numpy, CuPy or torch")


def cupy_modules() -> tuple[Any, Any]:
    """(cupy, cupyx.scipy.ndimage), or an ImportError that says how to install them."""
    try:  # by name: no CuPy stubs needed where it is absent
        cupy = importlib.import_module("cupy")
        ndi = importlib.import_module("cupyx.scipy.ndimage")
    except ImportError as exc:  # pragma: no cover - needs a GPU
        raise ImportError(
            "this operation on a GPU array needs CuPy: pip install 'orstream[gpu]' "
            "(cupy-cuda12x); or pass a numpy array"
        ) from exc
    return cupy, ndi


def to_cupy(x: Array) -> Array:  # pragma: no cover - needs a GPU
    """A CuPy view of a CuPy or CUDA-torch array (DLPack, no copy: the same device memory)."""
    cp, _ = cupy_modules()
    return x if aac.is_cupy_array(x) else cp.from_dlpack(x)


def match_library(result: Any, x: Array) -> Array:
    """``result`` (numpy or CuPy) back in ``x``'s library: torch in, torch out (no copy)."""
    if aac.is_torch_array(x):
        import torch
        from torch.utils.dlpack import from_dlpack

        if isinstance(result, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(result))
        return from_dlpack(result)  # pragma: no cover - needs a GPU
    return result


def to_numpy(x: Array) -> npt.NDArray[Any]:
    """``x`` as a numpy array: a view for numpy and CPU torch, a device-to-host copy for GPUs."""
    if isinstance(x, np.ndarray):
        return x
    if aac.is_torch_array(x):
        return np.asarray(x.detach().cpu().numpy())
    if aac.is_cupy_array(x):  # pragma: no cover - needs a GPU
        return np.asarray(x.get())
    return np.from_dlpack(x)
