"""What an OpenIGTLink server sends for a frame, found generically in the frame's results.

- the IMAGE, device ``image_device`` (the frame's pixels and spacing);
- a TRANSFORM per tracked point: any result whose ``to_json()`` gives ``x_mm``/``y_mm`` (at
  its top level or in a nested mapping, e.g. the ultrasound result's ``needle_tip``), or
  ``target_mm`` / ``target_px`` (the guidance target); named by result key through
  :data:`TRANSFORM_NAMES` (another key ``foo_bar`` gives ``FooBarToImage``). The matrix is a
  translation to (x_mm, y_mm, 0) in the image frame; a point not found is not sent;
- the transforms of the frame's source, ``meta["transforms"]`` (name -> 4x4 nested list);
- the guidance gate, ``results["guidance"]``: a STATUS (code 1 with the state in its error
  name, e.g. HOLD, and the reason) and a STRING with its whole JSON, both device ``Guidance``;
- label maps: uint8 (H, W) arrays in the results (``catheter_mask``, ``mask``...) as IMAGEs
  named by their key, with every frame when ``labels`` else only when asked (GET_IMAGE).

A name over 20 bytes, or a result whose ``to_json`` raises, is skipped and counted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from pyigtl import StringMessage

from ._drops import DropCounter
from ._frame import Frame
from ._igtl_codec import (
    MAX_DEVICE_NAME_BYTES,
    frame_time_s,
    image_message,
    status_message,
    transform_message,
    translation,
)
from ._igtl_meta import ImageInfo, MetaListMessage

TRANSFORM_NAMES: Final = {
    "tip": "CatheterTipToImage",
    "us": "NeedleTipToImage",
    "guidance": "TargetToImage",
}
"""The PLUS-style TRANSFORM device name of each result key's point."""
GUIDANCE_DEVICE: Final = "Guidance"
_IGTL_DTYPES: Final = {np.dtype(t) for t in ("i1", "u1", "i2", "u2", "i4", "u4", "f4", "f8")}


def transform_name(key: str) -> str:
    """The TRANSFORM name of result ``key``'s point (``tip`` -> ``CatheterTipToImage``)."""
    return TRANSFORM_NAMES.get(key) or "".join(p.title() for p in key.split("_")) + "ToImage"


def _pair(value: Any) -> tuple[float, float] | None:
    """(x, y) of ``[x, y]`` or of a mapping's ``x_*``/``y_*`` numbers, else None."""
    if isinstance(value, Mapping):
        value = [value.get("x_mm", value.get("x_px")), value.get("y_mm", value.get("y_px"))]
    if isinstance(value, list | tuple) and len(value) >= 2:
        x, y = value[0], value[1]
        if isinstance(x, int | float) and isinstance(y, int | float):
            return float(x), float(y)
    return None


def point_mm(doc: Mapping[str, Any], spacing_mm: tuple[float, float] | None) -> Any:
    """(x_mm, y_mm) of a result's JSON mapping, or None (not found, no spacing for px).

    Looked for in order: ``x_mm``/``y_mm``; ``target_mm``; ``target_px`` or ``target``
    (``{"x_px", "y_px"}``, as the guidance result has it) times the spacing; then a nested
    mapping under a key ending in ``tip`` (the ultrasound result's ``needle_tip``)."""
    if doc.get("found", True) is False:
        return None
    if isinstance(doc.get("x_mm"), int | float) and isinstance(doc.get("y_mm"), int | float):
        return float(doc["x_mm"]), float(doc["y_mm"])
    if (mm := _pair(doc.get("target_mm"))) is not None:
        return mm
    target = doc.get("target_px", doc.get("target"))
    if isinstance(target, Mapping) and isinstance(target.get("x_mm"), int | float):
        return _pair(target)
    if (px := _pair(target)) is not None:
        return None if spacing_mm is None else (px[0] * spacing_mm[1], px[1] * spacing_mm[0])
    for key, value in doc.items():
        if key.endswith("tip") and isinstance(value, Mapping):
            return point_mm(value, spacing_mm)
    return None


def _igtl_pixels(pixels: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if pixels.dtype == np.bool_:
        return pixels.view(np.uint8)
    if pixels.dtype.newbyteorder("=") in _IGTL_DTYPES:
        return pixels
    return pixels.astype(np.float32)


class IgtlFeed:
    """Builds the packed messages of each frame, and keeps the newest frame, label maps and
    guidance for queries (packed only when asked). Thread-safe."""

    def __init__(self, *, image_device: str | None = "Image_Reference", labels: bool = False):
        self.image_device = image_device
        self.labels = labels
        self.skipped = DropCounter("igtl feed")
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._masks: dict[str, tuple[npt.NDArray[Any], tuple[float, float] | None, float]] = {}
        self._guidance: tuple[Mapping[str, Any], float] | None = None

    def update(self, frame: Frame, *, pack: bool = True) -> list[bytes]:
        """The packed messages for ``frame`` (TRANSFORMs, STATUS/STRING, IMAGE, labels); with
        ``pack`` False (nobody connected) it is only kept for queries and nothing is packed."""
        t_s = frame_time_s(frame)
        docs = self._docs(frame)
        guidance = docs.get("guidance")
        masks = {
            str(k): v
            for k, v in frame.results.items()
            if isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim == 2
        }
        with self._lock:
            self._frame = frame
            for key, mask in masks.items():
                self._masks[key] = (mask, frame.spacing_mm, t_s)
            if isinstance(guidance, Mapping):
                self._guidance = (guidance, t_s)
        if not pack:
            return []
        out = [
            transform_message(matrix, name, t_s).pack()
            for name, matrix in self._transforms(frame, docs)
        ]
        if isinstance(guidance, Mapping):
            text = json.dumps(guidance, separators=(",", ":"), default=str)
            out.append(status_message(guidance, GUIDANCE_DEVICE, t_s).pack())
            out.append(StringMessage(text, t_s, GUIDANCE_DEVICE).pack())
        if self.image_device is not None:
            pixels = _igtl_pixels(frame.pixels)
            # after the transforms: a receiver pairs the image with them
            out.append(image_message(pixels, self.image_device, frame.spacing_mm, t_s).pack())
        for key, mask in masks.items():
            if len(key.encode()) > MAX_DEVICE_NAME_BYTES:
                self.skipped.drop("name", f"label device {key!r} over 20 bytes")
            elif self.labels:
                out.append(image_message(mask, key, frame.spacing_mm, t_s).pack())
        return out

    def _docs(self, frame: Frame) -> dict[str, Any]:
        docs: dict[str, Any] = {}
        for key, value in frame.results.items():
            to_json = getattr(value, "to_json", None)
            if not callable(to_json):
                continue
            try:
                docs[str(key)] = to_json()
            except Exception as exc:  # one bad result must not lose the frame's messages
                self.skipped.drop(f"to_json:{key}", type(exc).__name__)
        return docs

    def _transforms(self, frame: Frame, docs: dict[str, Any]) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for key, doc in docs.items():
            point = point_mm(doc, frame.spacing_mm) if isinstance(doc, Mapping) else None
            if point is not None:
                found.append((transform_name(key), translation(*point)))
        carried = frame.meta.get("transforms")
        if isinstance(carried, Mapping):
            for name, matrix in carried.items():
                if np.shape(matrix) == (4, 4):
                    found.append((str(name), matrix))
                else:
                    self.skipped.drop("transform", f"{name!r} is not 4x4")
        named = []
        for name, matrix in found:
            if len(name.encode()) > MAX_DEVICE_NAME_BYTES:
                self.skipped.drop("name", f"transform {name!r} over 20 bytes")
            else:
                named.append((name, matrix))
        return named

    def answer(self, kind: str, device: str) -> list[bytes] | None:
        """The packed reply to a ``GET_IMAGE`` / ``GET_STATUS`` query, or None when there is
        nothing (yet) to answer with. An empty device name asks for the image."""
        with self._lock:
            frame, guidance = self._frame, self._guidance
            name = device or (self.image_device or "")
            held = self._masks.get(name)
            masks = dict(self._masks)
        if kind == "GET_STATUS":
            if guidance is None:
                return None
            return [status_message(guidance[0], GUIDANCE_DEVICE, guidance[1]).pack()]
        if kind in ("GET_IMGMETA", "GET_LBMETA"):
            return [self._meta(kind.removeprefix("GET_"), frame, masks)]
        if kind != "GET_IMAGE":
            return None
        if name == self.image_device and frame is not None and frame.intact():
            pixels = _igtl_pixels(frame.pixels)
            t_s = frame_time_s(frame)
            return [image_message(pixels, name, frame.spacing_mm, t_s).pack()]
        if held is None:
            return None
        mask, spacing, t_s = held
        return [image_message(mask, name, spacing, t_s).pack()]

    def _meta(
        self,
        kind: str,
        frame: Frame | None,
        masks: dict[str, tuple[npt.NDArray[Any], tuple[float, float] | None, float]],
    ) -> bytes:
        """The packed IMGMETA (the image) or LBMETA (the label maps) list."""
        items: list[ImageInfo] = []
        if kind == "IMGMETA" and frame is not None and self.image_device is not None:
            height, width = frame.pixels.shape[:2]
            dtype = _igtl_pixels(frame.pixels).dtype.newbyteorder("=").str[1:]
            modality = str(frame.modality)
            items.append(ImageInfo(self.image_device, (width, height), dtype, modality))
        elif kind == "LBMETA":
            for key, (mask, _, t_s) in masks.items():
                if len(key.encode()) <= MAX_DEVICE_NAME_BYTES:
                    items.append(ImageInfo(key, (mask.shape[1], mask.shape[0]), "u1", t_s=t_s))
        owner = self.image_device or ""
        packed: bytes = MetaListMessage(kind, items, owner=owner, device_name="").pack()
        return packed
