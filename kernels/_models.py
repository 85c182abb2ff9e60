"""The registry of shipped models: ONNX files in ``kernels/models/`` with a sidecar JSON each.

A model is one ONNX file (the single source of truth for its weights) and ``NAME.json`` beside
it: input size and normalisation, class names, the network's architecture (to rebuild it in
torch), a training summary and the ONNX file's sha256. ``load_model("echo-lv")`` reads and
checks the sidecar; ``load_model(path)`` does the same for a model outside the package (a
freshly trained one). Pre-processing that belongs to a model (its normalisation) is here too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import array_api_compat as aac
import numpy as np
import numpy.typing as npt

MODELS_DIR: Final = Path(__file__).resolve().parent / "models"
SIDECAR_VERSION: Final = 1
NORMALIZATIONS: Final = ("p99", "scale")
"""``p99``: each image divided by its own 99th percentile (at least ``floor`` grey levels) and
clipped to ``[0, clip]``: gain-free, so a darker or brighter scanner looks the same;
``scale``: ``image * scale`` (e.g. 1/255)."""


@dataclass(frozen=True)
class ModelSpec:
    """A model as its sidecar JSON describes it.

    ``input_size``: (H, W) px the network takes; ``in_channels``: C of its (N, C, H, W)
    float32 input; ``class_names``: one per output channel K of its (N, K, H, W) float32
    logits, index 0 "background"; ``normalization``: {"kind": "p99", "floor": .., "clip": ..}
    or {"kind": "scale", "scale": ..}; ``architecture``: {"network": "UNet", "args": {...}}
    (MONAI constructor arguments, rebuilt by the torch backend); ``sha256``: of the ONNX file.
    """

    name: str
    onnx_path: Path
    input_size: tuple[int, int]
    in_channels: int
    class_names: tuple[str, ...]
    normalization: dict[str, Any]
    architecture: dict[str, Any]
    sha256: str
    opset: int = 18
    input_name: str = "image"
    output_name: str = "logits"
    training: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tip_channel: int | None = None
    """Output channel holding a tip heatmap logit (after the K class logits), or None."""
    licence: str = ""
    """The weights' licence when it is not the project's (e.g. from the training data)."""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def out_channels(self) -> int:
        """Channels of the network's output: K class logits, then the tip heatmap if any."""
        return self.n_classes + (self.tip_channel is not None)

    def preprocess(self, images: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Network input of grey images already at ``input_size``.

        ``images``: (H, W) or (N, H, W), any real dtype (uint8 grey levels expected);
        returns float32 (N, 1, H, W), C-contiguous, normalised per this model's sidecar.
        """
        out: npt.NDArray[np.float32] = normalize(
            np.asarray(images), self.normalization, self.input_size
        )
        return out

    def to_json(self) -> dict[str, Any]:
        """The sidecar document (the ONNX path as a file name relative to the sidecar)."""
        return {
            "format_version": SIDECAR_VERSION,
            "name": self.name,
            "description": self.description,
            "onnx": self.onnx_path.name,
            "sha256": self.sha256,
            "opset": self.opset,
            "input": {
                "name": self.input_name,
                "layout": "NCHW",
                "dtype": "float32",
                "size": list(self.input_size),
                "channels": self.in_channels,
                "normalization": self.normalization,
            },
            "output": {
                "name": self.output_name,
                "layout": "NCHW",
                "dtype": "float32",
                **({} if self.tip_channel is None else {"tip_heatmap_channel": self.tip_channel}),
            },
            "class_names": list(self.class_names),
            "architecture": self.architecture,
            "training": self.training,
            **({"licence": self.licence} if self.licence else {}),
            "not_for_clinical_use": True,
        }


def normalize(
    images: Any, normalization: dict[str, Any], size: tuple[int, int] | None = None
) -> Any:
    """(N, 1, H, W) float32 network input from (H, W) or (N, H, W) grey images.

    ``images``: array-like (a numpy array back), or a CuPy / torch array (the result stays in
    its library and on its device). ``normalization`` as in :class:`ModelSpec`; ``size``
    (H, W), when given, is checked. Raises ValueError on a wrong shape or an unknown
    normalisation.
    """
    on_host = not (aac.is_cupy_array(images) or aac.is_torch_array(images))
    if on_host:  # plain numpy: the live CPU path pays no array-API namespace (90 ms first use)
        xp: Any = np
        x = np.asarray(images, dtype=np.float32)
    else:
        xp = aac.array_namespace(images)
        x = xp.astype(images, xp.float32)
    if x.ndim == 2:
        x = x[None, ...]
    if x.ndim != 3:
        raise ValueError(f"expected grey images (H, W) or (N, H, W); got shape {tuple(x.shape)}")
    if size is not None and tuple(x.shape[1:]) != tuple(size):
        raise ValueError(f"images are {tuple(x.shape[1:])} px; the model takes {tuple(size)}")
    kind = normalization.get("kind")
    if kind == "p99":
        floor, clip = float(normalization["floor"]), float(normalization["clip"])
        flat = xp.reshape(x, (x.shape[0], -1))
        k = int(0.99 * (flat.shape[1] - 1))
        if on_host:  # a partial sort: the live CPU path
            p99 = np.partition(flat, k, axis=1)[:, k] if len(flat) else np.zeros(0, np.float32)
        else:
            p99 = xp.sort(flat, axis=1)[:, k]
        low = floor if on_host else xp.asarray(floor, dtype=xp.float32, device=aac.device(x))
        scale = 1.0 / xp.maximum(p99, low)
        x = xp.clip(x * scale[:, None, None], 0.0, clip)
    elif kind == "scale":
        x = x * float(normalization["scale"])
    else:
        raise ValueError(f"unknown normalization {kind!r}; known: {', '.join(NORMALIZATIONS)}")
    out = x[:, None, ...]
    return np.ascontiguousarray(out, dtype=np.float32) if on_host else out


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def available_models() -> tuple[str, ...]:
    """Names of the models shipped in the package (sorted)."""
    if not MODELS_DIR.is_dir():
        return ()
    return tuple(
        sorted(p.stem for p in MODELS_DIR.glob("*.json") if p.with_suffix(".onnx").exists())
    )


def _sidecar_path(model: str | Path) -> Path:
    text = str(model)
    if text.endswith((".json", ".onnx")) or "/" in text or "\\" in text:
        path = Path(text)
        sidecar = path.with_suffix(".json")
        if not sidecar.exists():
            raise FileNotFoundError(f"no model sidecar {sidecar} (expected beside the ONNX file)")
        return sidecar
    sidecar = MODELS_DIR / f"{text}.json"
    if not sidecar.exists():
        known = ", ".join(available_models()) or "none shipped"
        raise ValueError(f"unknown model {text!r}; shipped models: {known}")
    return sidecar


def spec_from_json(doc: dict[str, Any], onnx_path: Path) -> ModelSpec:
    """A :class:`ModelSpec` from a sidecar document; ValueError names what is missing."""
    try:
        inp, out = doc["input"], doc["output"]
        tip = out.get("tip_heatmap_channel")
        size = tuple(int(v) for v in inp["size"])
        spec = ModelSpec(
            name=str(doc["name"]),
            onnx_path=onnx_path,
            input_size=(size[0], size[1]),
            in_channels=int(inp["channels"]),
            class_names=tuple(str(c) for c in doc["class_names"]),
            normalization=dict(inp["normalization"]),
            architecture=dict(doc["architecture"]),
            sha256=str(doc["sha256"]),
            opset=int(doc.get("opset", 18)),
            input_name=str(inp.get("name", "image")),
            output_name=str(out.get("name", "logits")),
            training=dict(doc.get("training", {})),
            description=str(doc.get("description", "")),
            tip_channel=None if tip is None else int(tip),
            licence=str(doc.get("licence", "")),
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"model sidecar for {onnx_path.name} lacks or mistypes {exc}") from exc
    if int(doc.get("format_version", SIDECAR_VERSION)) != SIDECAR_VERSION:
        raise ValueError(f"model sidecar format {doc.get('format_version')} is not supported")
    if spec.tip_channel is not None and spec.tip_channel != spec.n_classes:
        raise ValueError(f"model {spec.name}: the tip heatmap must follow the class logits")
    if spec.normalization.get("kind") not in NORMALIZATIONS:
        raise ValueError(f"model {spec.name}: unknown normalization {spec.normalization}")
    return spec


def load_model(model: str | Path, *, verify: bool = True) -> ModelSpec:
    """The :class:`ModelSpec` of a shipped model (by name) or of ``PATH.onnx``/``PATH.json``.

    ``verify``: check that the ONNX file's sha256 matches the sidecar's (about 10 ms for a
    4 MB file). Raises ValueError for an unknown name, a bad sidecar or a hash mismatch, and
    FileNotFoundError for a missing file.
    """
    sidecar = _sidecar_path(model)
    try:
        doc = json.loads(sidecar.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"model sidecar {sidecar} is not valid JSON: {exc}") from exc
    onnx_path = sidecar.parent / str(doc.get("onnx", sidecar.with_suffix(".onnx").name))
    if not onnx_path.exists():
        raise FileNotFoundError(f"model file {onnx_path} is missing")
    spec = spec_from_json(doc, onnx_path)
    if verify:
        actual = sha256_file(onnx_path)
        if actual != spec.sha256:
            raise ValueError(
                f"model {spec.name}: {onnx_path.name} has sha256 {actual[:12]}..., the sidecar "
                f"says {spec.sha256[:12]}...; reinstall the package or re-export the model"
            )
    return spec


def write_sidecar(spec: ModelSpec) -> Path:
    """Write ``spec`` as the JSON beside its ONNX file (sha256 recomputed); returns its path."""
    doc = spec.to_json()
    doc["sha256"] = sha256_file(spec.onnx_path)
    path = spec.onnx_path.with_suffix(".json")
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
