"""The torch reference backend, and the networks it (and training) builds from a sidecar spec.

The weights have one source of truth, the shipped ONNX file: the exporter keeps every state
dict entry as an ONNX initializer under its torch name (``torch.onnx.export(optimize=False)``,
BatchNorm left unfused; ONNX Runtime fuses it at load time), so the reference rebuilds the
MONAI network from ``architecture`` and loads its state dict from those initializers.
Needs ``torch`` and ``monai`` (``pip install 'orstream[train]'``); ``onnx`` (a core
dependency) reads the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._backends import check_input
from ._models import ModelSpec

NETWORKS: Final = ("UNet", "BasicUNet")
"""MONAI networks a sidecar may name (constructor arguments only: nothing is evaluated)."""
_TRAIN_HINT: Final = "pip install 'orstream[train]' (torch, monai)"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"the torch backend needs torch: {_TRAIN_HINT}") from exc
    return torch


def build_network(architecture: dict[str, Any], in_channels: int, n_classes: int) -> Any:
    """A freshly initialised ``torch.nn.Module`` from a sidecar ``architecture``.

    ``architecture``: {"network": "UNet" | "BasicUNet", "args": {keyword arguments of the
    MONAI constructor except spatial_dims and the channel counts}}; 2-D, ``in_channels`` in,
    ``n_classes`` logits out. ValueError for an unknown network or argument.
    """
    _import_torch()
    try:
        from monai.networks.nets.basic_unet import BasicUNet
        from monai.networks.nets.unet import UNet
    except ImportError as exc:
        raise ImportError(f"building the network needs MONAI: {_TRAIN_HINT}") from exc
    network = architecture.get("network")
    args = dict(architecture.get("args", {}))
    for key, value in args.items():
        if isinstance(value, list):
            args[key] = tuple(value)
    try:
        if network == "UNet":
            return UNet(2, in_channels, n_classes, **args)
        if network == "BasicUNet":
            return BasicUNet(2, in_channels, n_classes, **args)
    except TypeError as exc:
        raise ValueError(f"bad arguments for MONAI {network}: {exc}") from exc
    raise ValueError(f"unknown network {network!r}; known: {', '.join(NETWORKS)}")


def onnx_initializers(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Every initializer of the ONNX file at ``path``, by name (numpy arrays, file dtypes)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ImportError(f"reading ONNX weights needs the onnx package: {_TRAIN_HINT}") from exc
    proto = onnx.load(str(path))
    return {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}


def network_from_onnx(model: ModelSpec) -> Any:
    """The reference ``torch.nn.Module`` (eval mode, CPU) of ``model``, weights from its ONNX.

    Every state-dict entry must be an initializer of the same name and shape, except
    BatchNorm's ``num_batches_tracked`` (unused at inference); ValueError names any that is
    missing, so an ONNX exported with fused weights cannot silently load half a network.
    """
    torch = _import_torch()
    net = build_network(model.architecture, model.in_channels, model.out_channels)
    weights = onnx_initializers(model.onnx_path)
    state = net.state_dict()
    missing, wrong = [], []
    for key, tensor in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key not in weights:
            missing.append(key)
        elif tuple(weights[key].shape) != tuple(tensor.shape):
            wrong.append(f"{key} {weights[key].shape} != {tuple(tensor.shape)}")
        else:
            state[key] = torch.from_numpy(np.array(weights[key], copy=True)).to(tensor.dtype)
    if missing or wrong:
        raise ValueError(
            f"{model.onnx_path.name} does not hold the weights of its architecture: "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, mismatched {wrong[:3]}"
        )
    net.load_state_dict(state)
    return net.eval()


class TorchBackend:
    """The reference: the MONAI network in torch (float32), on the CPU or ``device``.

    ``threads``: torch intra-op threads to set (None leaves torch's setting alone).
    """

    name = "torch"

    def __init__(
        self, model: ModelSpec, *, threads: int | None = None, device: str = "cpu"
    ) -> None:
        torch = _import_torch()
        if threads is not None:
            torch.set_num_threads(max(1, threads))
        self.model = model
        self.input_size = model.input_size
        self.class_names = model.class_names
        self.device = torch.device(device)
        self.network: Any = network_from_onnx(model).to(self.device)

    def run_torch(self, x: Any) -> Any:
        """float32 (N, K, H, W) logits, on ``device``, of a float32 (N, C, H, W) tensor there
        (a GPU pipeline keeps its frames on the device: no host copy either way)."""
        torch = _import_torch()
        c, (h, w) = self.model.in_channels, self.input_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w) or x.dtype != torch.float32:
            raise ValueError(
                f"model {self.model.name} takes float32 (N, {c}, {h}, {w}); got "
                f"{x.dtype} {tuple(x.shape)}"
            )
        with torch.inference_mode():
            return self.network(x.to(self.device))

    def run(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Logits float32 (N, K, H, W) of float32 (N, C, H, W) (host arrays either side)."""
        torch = _import_torch()
        out = self.run_torch(torch.from_numpy(check_input(x, self.model)))
        return np.ascontiguousarray(out.float().cpu().numpy(), dtype=np.float32)
