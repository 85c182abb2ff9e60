"""Holoscan's side of ``orstream bench overhead``, run as a script by any Python with Holoscan.

``python _holoscan_graph.py --stages N --frames F [--probe]`` builds the Holoscan application
``source -> identity x N -> sink`` with the Python API (``Application.compose`` and
``add_flow``, the default greedy scheduler: one thread, like our pipeline loop) and prints one
JSON line: the Holoscan version and the time per frame between the sink's first and last
frame (graph start-up excluded). Each frame is a Python object holding a 128x128 uint8 array,
its sequence number and capture time, as our ``Frame`` does; operators pass it on unchanged.
``--probe`` only imports Holoscan and prints its version.

It imports nothing of orstream, so it runs in a separate environment holding only Holoscan
(``pip install holoscan-cu12 nvidia-cuda-runtime-cu12``). Holoscan's libraries link the CUDA
runtime even for CPU-only graphs; the ``libcudart.so.12`` of that environment's
``nvidia-cuda-runtime-cu12`` is loaded first, so that no ``LD_LIBRARY_PATH`` is needed.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import site
import sys
import time
import warnings
from pathlib import Path
from typing import Any


def _load_cudart() -> str | None:
    """Load libcudart.so.12 from this interpreter's site-packages, if there; its path."""
    for root in [*site.getsitepackages(), site.getusersitepackages()]:
        for lib in sorted(Path(root).glob("nvidia/cuda_runtime/lib/libcudart.so.12*")):
            try:
                ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return str(lib)
    return None


class _Payload:
    """What travels: pixels plus a small header, like orstream's Frame."""

    __slots__ = ("pixels", "seq", "t_capture_ns")

    def __init__(self, pixels: Any, seq: int, t_capture_ns: int) -> None:
        self.pixels, self.seq, self.t_capture_ns = pixels, seq, t_capture_ns


def _measure(stages: int, frames: int) -> dict[str, Any]:
    import numpy as np

    # Imported by name: Holoscan is not in the environment the package is type-checked in.
    conditions = importlib.import_module("holoscan.conditions")
    core = importlib.import_module("holoscan.core")
    count_condition: Any = conditions.CountCondition
    application: Any = core.Application
    operator: Any = core.Operator

    pixels = np.zeros((128, 128), np.uint8)
    times: list[float] = []

    class SourceOp(operator):  # type: ignore[misc]
        def setup(self, spec: Any) -> None:
            spec.output("out")

        def initialize(self) -> None:
            self.seq = 0
            super().initialize()

        def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
            op_output.emit(_Payload(pixels, self.seq, time.time_ns()), "out")
            self.seq += 1

    class IdentityOp(operator):  # type: ignore[misc]
        def setup(self, spec: Any) -> None:
            spec.input("in")
            spec.output("out")

        def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
            op_output.emit(op_input.receive("in"), "out")

    class SinkOp(operator):  # type: ignore[misc]
        def setup(self, spec: Any) -> None:
            spec.input("in")

        def compute(self, op_input: Any, op_output: Any, context: Any) -> None:
            op_input.receive("in")
            times.append(time.perf_counter())

    class IdentityApp(application):  # type: ignore[misc]
        def compose(self) -> None:
            previous = SourceOp(self, count_condition(self, frames), name="source")
            for k in range(stages):
                op = IdentityOp(self, name=f"identity{k}")
                self.add_flow(previous, op)
                previous = op
            self.add_flow(previous, SinkOp(self, name="sink"))

    app = IdentityApp()
    t0 = time.perf_counter()
    app.run()
    total_s = time.perf_counter() - t0
    if len(times) < 2:
        raise RuntimeError(f"the sink got {len(times)} of {frames} frames")
    per_frame_s = (times[-1] - times[0]) / (len(times) - 1)
    return {
        "frames": len(times),
        "per_frame_us": round(per_frame_s * 1e6, 3),
        "startup_s": round(total_s - (times[-1] - times[0]), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=1)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--probe", action="store_true")
    args = parser.parse_args()
    cudart = _load_cudart()
    warnings.simplefilter("ignore")  # the stack-size advice; Holoscan logs it as well
    try:
        holoscan = importlib.import_module("holoscan")
    except Exception as exc:
        print(json.dumps({"error": f"import holoscan: {type(exc).__name__}: {exc}"}))
        return 1
    out: dict[str, Any] = {"version": str(getattr(holoscan, "__version__", "unknown"))}
    out["python"] = sys.version.split()[0]
    out["cudart"] = cudart
    if not args.probe:
        out.update(_measure(args.stages, args.frames))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
