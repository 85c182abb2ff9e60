"""The one frame type: pixels plus a small immutable header and a timing trace."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

JSONValue = Any
"""A value that JSON can carry (None, bool, int, float, str, list, dict)."""


class Modality(StrEnum):
    """What produced the pixels."""

    ECHO = "echo"
    FLUORO = "fluoro"
    US = "us"
    OTHER = "other"


class GeometryKind(StrEnum):
    """How pixels map to space: a linear array, a phased-array sector, or an X-ray projection."""

    LINEAR = "linear"
    SECTOR = "sector"
    PROJECTION = "projection"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Geometry:
    """Image geometry: a kind plus its parameters (numbers or lists of numbers, units in names).

    Points are [x, y] in pixels (column, row). Examples: ``Geometry(GeometryKind.SECTOR,
    {"apex_px": [64.0, 0.0], "angle_deg": 75.0,
    "depth_mm": 150.0})``; ``Geometry(GeometryKind.PROJECTION, {"sid_mm": 1200.0})``.
    """

    kind: GeometryKind = GeometryKind.UNKNOWN
    params: Mapping[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSONValue]:
        return {"kind": self.kind.value, **dict(self.params)}


@dataclass(frozen=True, slots=True)
class Frame:
    """One image with its header.

    ``pixels``: a C-contiguous array of shape (H, W) or (H, W, C); on the receive path a
    read-only view on the bytes ZeroMQ received. ``t_capture_ns``: capture time in ns since the
    Unix epoch (the device's clock). ``spacing_mm``: (row, column) pixel spacing in mm, or None
    when uncalibrated. ``trace``: (stage name, time in ns since the epoch) pairs, appended by
    each stage through :meth:`stamp`; the only part of a frame that changes after creation.
    """

    pixels: npt.NDArray[Any]
    stream_id: str
    seq: int
    t_capture_ns: int
    modality: Modality = Modality.OTHER
    spacing_mm: tuple[float, float] | None = None
    geometry: Geometry = field(default_factory=Geometry)
    meta: Mapping[str, JSONValue] = field(default_factory=dict)
    trace: list[tuple[str, int]] = field(default_factory=list, compare=False)
    results: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """What stages computed for this frame (masks, tracks, measurements), by name."""
    lease: Callable[[], bool] | None = field(default=None, compare=False, repr=False)
    """For pixels that live in a shared-memory ring: True while they are still this frame's."""

    def stamp(self, stage: str, t_ns: int | None = None) -> Frame:
        """Append ``(stage, now)`` to the trace and return the frame (for chaining)."""
        self.trace.append((stage, time.time_ns() if t_ns is None else t_ns))
        return self

    def intact(self) -> bool:
        """False if the pixels were overwritten since the frame arrived (shared-memory rings
        reuse slots); always True for pixels the frame owns or views in a received message."""
        return self.lease is None or self.lease()

    def age_ns(self, now_ns: int | None = None) -> int:
        """Nanoseconds from capture to ``now_ns`` (default: now)."""
        return (time.time_ns() if now_ns is None else now_ns) - self.t_capture_ns


def make_frame(
    pixels: npt.ArrayLike,
    stream_id: str = "0",
    seq: int = 0,
    *,
    t_capture_ns: int | None = None,
    modality: Modality | str = Modality.OTHER,
    spacing_mm: tuple[float, float] | None = None,
    geometry: Geometry | None = None,
    meta: Mapping[str, JSONValue] | None = None,
) -> Frame:
    """Build a frame from any array-like, made C-contiguous; capture time defaults to now."""
    return Frame(
        pixels=np.ascontiguousarray(pixels),
        stream_id=stream_id,
        seq=seq,
        t_capture_ns=time.time_ns() if t_capture_ns is None else t_capture_ns,
        modality=Modality(modality),
        spacing_mm=spacing_mm,
        geometry=geometry if geometry is not None else Geometry(),
        meta=dict(meta or {}),
    )
