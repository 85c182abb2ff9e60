"""``orstream doctor``: versions, backends, devices, and what is missing with how to install it."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
from typing import Any

from .. import __version__

# (import name, distribution, extra that brings it, what it is for)
_COMPONENTS = (
    ("numpy", "numpy", None, "arrays"),
    ("zmq", "pyzmq", None, "ZeroMQ transports"),
    ("onnxruntime", "onnxruntime", None, "CPU inference (default backend)"),
    ("onnx", "onnx", None, "model graphs (the CPU rewrite, the torch reference's weights)"),
    ("pydicom", "pydicom", None, "DICOM cines (pydicom 3 or later)"),
    ("cv2", "opencv-python-headless", None, "image files, resizing"),
    ("array_api_compat", "array-api-compat", None, "one code path for CPU and GPU arrays"),
    ("pyigtl", "pyigtl", None, "OpenIGTLink (3D Slicer, PLUS)"),
    ("crcmod", "crcmod-plus", None, "OpenIGTLink CRC-64 (C extension)"),
    ("torch", "torch", "train", "reference backend, training"),
    ("stable_baselines3", "stable-baselines3", "train", "policy training"),
    ("gymnasium", "gymnasium", "train", "simulator environments"),
    ("monai", "monai", "train", "segmentation networks and metrics"),
    ("onnxscript", "onnxscript", "train", "ONNX export of trained models"),
    ("tensorrt", "tensorrt", "gpu", "TensorRT backend"),
    ("torch_tensorrt", "torch-tensorrt", "gpu", "TensorRT compilation from torch"),
    ("cupy", "cupy-cuda12x", "gpu", "GPU arrays"),
    ("imagezmq", "imagezmq", "bench", "transport benchmark peer"),
    ("highdicom", "highdicom", "report", "DICOM Structured Reports (measure --sr)"),
)

_MINIMUM = {"pydicom": 3}
"""Lowest major version orstream works with, where an older one imports but fails later."""


def install_command(module: str) -> str | None:
    """The pip command that brings the top-level package ``module``, or None if unknown."""
    top = module.partition(".")[0]
    for name, dist, extra, _ in _COMPONENTS:
        if name == top:
            return f"pip install 'orstream[{extra}]'" if extra else f"pip install {dist}"
    return None


def _major(version: str | None) -> int:
    head = (version or "0").split(".")[0]
    return int(head) if head.isdigit() else 0


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _probe(module: str) -> tuple[bool, str]:
    try:
        importlib.import_module(module)
    except Exception as exc:  # an installed but broken package is reported, not raised
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
    return True, ""


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _igtl_crc_extension() -> bool | None:
    """Whether OpenIGTLink CRCs run in crcmod's C extension; None when crcmod is missing."""
    try:
        from ..stream import crc_extension_in_use
    except ImportError:
        return None
    return crc_extension_in_use()


def collect() -> dict[str, Any]:
    """Everything doctor reports, as one JSON-able document."""
    components: dict[str, Any] = {}
    for module, dist, _, role in _COMPONENTS:
        version = _version(dist) or (_version(module) if module != dist else None)
        ok, error = _probe(module) if version is not None else (False, "not installed")
        if ok and dist in _MINIMUM and _major(version) < _MINIMUM[dist]:
            ok, error = False, f"version {version}; orstream needs {dist}>={_MINIMUM[dist]}"
        entry: dict[str, Any] = {"version": version, "ok": ok, "role": role}
        if not ok:
            entry["problem"] = error
            entry["install"] = (
                f"pip install '{dist}>={_MINIMUM[dist]}'"
                if dist in _MINIMUM
                else install_command(module)
            )
        components[dist] = entry
    report: dict[str, Any] = {
        "orstream": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "components": components,
        "gpus": _gpus(),
    }
    if components["pyzmq"]["ok"]:
        import zmq

        report["libzmq"] = zmq.zmq_version()
        report["zmq_curve"] = bool(zmq.has("curve"))
    report["igtl_crc_extension"] = _igtl_crc_extension()
    if components["onnxruntime"]["ok"]:
        import onnxruntime

        report["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return report


def _print_human(report: dict[str, Any]) -> None:
    print(f"orstream {report['orstream']} on Python {report['python']} ({report['platform']})")
    print(f"CPU cores: {report['cpu_cores']}; GPUs: {', '.join(report['gpus']) or 'none found'}")
    if "libzmq" in report:
        print(
            f"libzmq {report['libzmq']}, CURVE encryption: {'yes' if report['zmq_curve'] else 'NO'}"
        )
    crc = report.get("igtl_crc_extension")
    if crc is not None:
        print(
            "OpenIGTLink CRC: "
            + (
                "C extension"
                if crc
                else "pure Python (slow: pip install --force-reinstall crcmod-plus)"
            )
        )
    if "onnxruntime_providers" in report:
        print(f"ONNX Runtime providers: {', '.join(report['onnxruntime_providers'])}")
    for dist, entry in report["components"].items():
        status = entry["version"] if entry["ok"] else "missing"
        hint = "" if entry["ok"] else f"  -> {entry['install']} ({entry['problem']})"
        print(f"  {dist:24s} {status:12s} {entry['role']}{hint}")


def run(args: argparse.Namespace) -> int:
    report = collect()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_human(report)
    core = ("numpy", "pyzmq", "onnxruntime", "pydicom")
    return 0 if all(report["components"][name]["ok"] for name in core) else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("doctor", help="versions, backends, devices, what is missing")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.set_defaults(func=run)
