"""The X-ray constants of the fluoroscopy simulator, as one frozen, validated setting."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._fluoro_body import LOG_WINDOW, SCATTER_TO_PRIMARY
from ._vessels import ANATOMIES

MU_IODINE_PER_MM = {"hepatic": 0.25, "coronary": 0.2, "arch": 0.06}
"""Iodine attenuation at full fill, per mm of lumen chord (diluted most in the aorta)."""
CATHETER_MU, MARKER_MU = 0.35, 1.6
"""Line integrals across the catheter body's axis and across the radiopaque tip marker."""


@dataclass(frozen=True)
class FluoroPhysics:
    """Attenuation, scatter and detector constants of :class:`FluoroSimulator`.

    ``mu_iodine_per_mm``: iodine line integral per mm of lumen chord at full fill, per anatomy
    ("hepatic", "arch", "coronary"); ``catheter_mu`` and ``marker_mu``: line integrals across
    the catheter body's axis and across its radiopaque tip marker (0 hides them);
    ``scatter_to_primary``: scatter-to-primary ratio behind the anti-scatter grid (0: no
    scatter); ``log_window``: (low, high) ln(counts / dose) mapped to 0 and 65535 by the log
    response (the high end is also full scale, 65535, of the linear response).
    """

    mu_iodine_per_mm: Mapping[str, float] = field(default_factory=lambda: dict(MU_IODINE_PER_MM))
    catheter_mu: float = CATHETER_MU
    marker_mu: float = MARKER_MU
    scatter_to_primary: float = SCATTER_TO_PRIMARY
    log_window: tuple[float, float] = LOG_WINDOW

    def __post_init__(self) -> None:
        missing = sorted(set(ANATOMIES) - set(self.mu_iodine_per_mm))
        if missing:
            raise ValueError(f"mu_iodine_per_mm needs a value for {', '.join(missing)}")
        named = {f"mu_iodine_per_mm[{k!r}]": v for k, v in self.mu_iodine_per_mm.items()}
        named |= {
            "catheter_mu": self.catheter_mu,
            "marker_mu": self.marker_mu,
            "scatter_to_primary": self.scatter_to_primary,
        }
        for name, value in named.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        lo, hi = self.log_window
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"log_window must be (low, high) with low < high, got {(lo, hi)}")


def check_settings(fps: float, size: tuple[int, int], dose: float, *choices: str) -> None:
    """ValueError (one line) for a FluoroSimulator setting out of range."""
    if not 0 < fps <= 60:
        raise ValueError(f"fps must be in (0, 60] (fluoroscopy runs at 7.5-30), got {fps}")
    if len(size) != 2 or min(size) < 64 or max(size) > 4096:
        raise ValueError(f"size must be (rows, columns) between 64 and 4096, got {size}")
    if not dose > 0:
        raise ValueError(f"dose (photons per pixel) must be > 0, got {dose}")
    allowed = (
        ("noise", ("fast", "poisson", "none")),
        ("response", ("log", "linear")),
        ("collimation", ("circle", "rect", "none")),
        ("vessel_label", ("lumen", "opacified")),
    )
    for (name, ok), value in zip(allowed, choices, strict=True):
        if value not in ok:
            raise ValueError(f"{name} must be one of {ok}, got {value!r}")
