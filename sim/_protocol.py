"""What every simulator gives: rendered frames with per-pixel labels and JSON-able truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class SimFrame:
    """One rendered frame and its ground truth.

    ``image``: (H, W) uint8 (ultrasound, echo) or uint16 (fluoroscopy), C-contiguous.
    ``labels``: (H, W) uint8 class indices, names in the simulator's ``label_names``.
    ``truth``: JSON-able per-frame truth (volumes in ml, positions in px and mm, flags).
    """

    index: int
    t_s: float
    image: npt.NDArray[Any]
    labels: npt.NDArray[np.uint8]
    truth: dict[str, Any] = field(default_factory=dict)


class Simulator(Protocol):
    """A deterministic device model: same seed and arguments, same frames, bit for bit."""

    modality: str
    """"echo", "fluoro" or "us" (the wire protocol's modality names)."""
    fps: float
    spacing_mm: tuple[float, float]
    """(row, column) pixel spacing in mm."""
    geometry: dict[str, Any]
    """Wire-protocol geometry object: {"kind": "sector"|"linear"|"projection", ...}."""
    label_names: tuple[str, ...]
    """Name of each class index in ``SimFrame.labels`` (index 0 is "background")."""

    def render(self, index: int) -> SimFrame:
        """Frame ``index`` (time ``index / fps`` s); any index, in any order."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able truth for the whole run (seed, anatomy, true EF and heart rate, ...)."""
        ...
