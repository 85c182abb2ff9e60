"""Export a trained segmentation network to the ONNX file the backends run, checked against torch.

Needs torch, onnx and ONNX Runtime (``orstream[train]``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def export_onnx(
    network: Any,
    path: Path,
    input_size: tuple[int, int],
    *,
    in_channels: int = 1,
    opset: int = 18,
    verify: bool = True,
    tolerance: float = 1e-3,
) -> float:
    """Write ``network`` as ONNX (opset ``opset``, input "image" float32 (N, C, H, W) with a
    dynamic batch N, output "logits" (N, K, H, W)) and return the max abs logit difference
    between ONNX Runtime and torch on a seeded random batch of 2 (RuntimeError above
    ``tolerance``). Weights stay unfused, one initializer per state-dict entry under its torch
    name (the torch backend loads them back); ONNX Runtime fuses at load time."""
    import torch

    network = network.eval()
    h, w = input_size
    generator = torch.Generator().manual_seed(0)
    sample = torch.rand(2, in_channels, h, w, generator=generator)
    path.parent.mkdir(parents=True, exist_ok=True)
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "onnx_ir", "onnxscript")]
    levels = [q.level for q in quiet]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for q in quiet:
            q.setLevel(logging.ERROR)
        try:
            _export(torch, network, sample, path, opset)
        finally:
            for q, level in zip(quiet, levels, strict=True):
                q.setLevel(level)
    if not verify:
        return float("nan")
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": sample.numpy()})[0]
    with torch.inference_mode():
        want = network(sample).numpy()
    diff = float(np.max(np.abs(got - want)))
    if not diff <= tolerance:
        raise RuntimeError(f"ONNX export of {path.name} differs from torch by {diff:.2e}")
    return diff


def _export(torch: Any, network: Any, sample: Any, path: Path, opset: int) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(
        network,
        (sample,),
        str(path),
        dynamo=True,
        opset_version=opset,
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes=({0: batch},),
        optimize=False,
        external_data=False,
        verbose=False,
    )
