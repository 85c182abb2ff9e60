"""Typed per-frame results of the live pipelines, each with one JSON mapping.

Stages put them in ``frame.results`` under their key (``"tip"``, ``"us"``; echo's ``"lv"`` is
:class:`~orstream.kernels.FrameMeasurement`); a JSON Lines sink writes ``to_json()`` of each.
Positions are (x, y) = (column, row) in frame pixels, with pixel centres at integers; mm are
the frame's pixel spacing times pixels. A value that is not known is ``None`` in JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..kernels import Plausibility, TipEstimate


def _num(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def to_mm(
    x_px: float, y_px: float, spacing_mm: tuple[float, float] | None
) -> tuple[float, float] | None:
    """(x, y) px to mm with (row, column) ``spacing_mm``; None without a spacing."""
    if spacing_mm is None:
        return None
    return x_px * spacing_mm[1], y_px * spacing_mm[0]


@dataclass(frozen=True, slots=True)
class TipResult:
    """A tracked tip (catheter, needle) in one frame: ``found``, position in px and (with a
    pixel spacing) mm, ``confidence`` 0..1 (the track's, or the detector's), ``source`` what
    gave it (``roi``, ``search``, ``none`` for the fluoro tracker; ``heatmap`` for needles)."""

    found: bool
    x_px: float
    y_px: float
    x_mm: float | None
    y_mm: float | None
    confidence: float
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "x_px": _num(self.x_px, 2),
            "y_px": _num(self.y_px, 2),
            "x_mm": _num(self.x_mm, 3),
            "y_mm": _num(self.y_mm, 3),
            "confidence": round(self.confidence, 3),
            "source": self.source,
        }


def tip_result(estimate: TipEstimate, spacing_mm: tuple[float, float] | None) -> TipResult:
    """The :class:`TipResult` of a tracker's estimate in a frame of ``spacing_mm``."""
    mm = to_mm(estimate.x_px, estimate.y_px, spacing_mm) if estimate.found else None
    return TipResult(
        found=estimate.found,
        x_px=estimate.x_px,
        y_px=estimate.y_px,
        x_mm=None if mm is None else mm[0],
        y_mm=None if mm is None else mm[1],
        confidence=estimate.confidence,
        source=estimate.mode,
    )


@dataclass(frozen=True, slots=True)
class SegmentationResult:
    """Areas of a class-index mask's foreground classes: pixels and (with a spacing) mm2
    per class name; ``confidence`` 0..1: the mean top-class probability over the foreground
    (NaN when nothing was found), or the model's own measure where it has one;
    ``confidence_by_class``: 0..1 per class name where the model gives one
    (``orstream.kernels.segment_images_by_class``; 0 for a class not found)."""

    model: str
    pixels: dict[str, int]
    area_mm2: dict[str, float] | None
    confidence: float
    confidence_by_class: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "pixels": self.pixels,
            "area_mm2": None
            if self.area_mm2 is None
            else {k: round(v, 2) for k, v in self.area_mm2.items()},
            "confidence": _num(self.confidence, 3),
            "confidence_by_class": None
            if self.confidence_by_class is None
            else {k: _num(v, 3) for k, v in self.confidence_by_class.items()},
        }


@dataclass(frozen=True, slots=True)
class UltrasoundResult:
    """One ultrasound frame: the needle (mask areas, tip), nerves and vessels, and the
    distance (mm) from the needle tip to the nearest nerve pixel (None without a found tip,
    a nerve, or a pixel spacing); ``needle_plausibility``: is the needle mask a line with the
    tip at its end (``orstream.kernels.needle_plausibility``; in JSON ``needle.plausible`` and
    ``needle.implausible``)."""

    needle: SegmentationResult
    needle_tip: TipResult
    anatomy: SegmentationResult
    tip_to_nerve_mm: float | None
    needle_plausibility: Plausibility | None = None

    def to_json(self) -> dict[str, Any]:
        p = self.needle_plausibility
        return {
            "needle": {
                **self.needle.to_json(),
                "plausible": None if p is None else p.ok,
                "implausible": [] if p is None else list(p.failed),
            },
            "needle_tip": self.needle_tip.to_json(),
            "anatomy": self.anatomy.to_json(),
            "tip_to_nerve_mm": _num(self.tip_to_nerve_mm, 2),
        }


@dataclass(frozen=True)
class PipelineSummary:
    """A run of a live pipeline: ``paths`` (per path: frames, fps, latency p50/p99 in ms,
    drops by kind, time per stage), ``source`` (its counters), ``measurements`` (what the
    pipeline adds up over the run, e.g. echo's beats; None for a pipeline without), ``robot``
    (the robot link's gate state, transitions and feed counters; None without a robot)."""

    pipeline: str
    paths: dict[str, Any]
    source: dict[str, Any]
    measurements: dict[str, Any] | None = None
    robot: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"pipeline": self.pipeline, "paths": self.paths}
        doc["source"] = self.source
        if self.measurements is not None:
            doc["measurements"] = self.measurements
        if self.robot is not None:
            doc["robot"] = self.robot
        return doc
