"""Per-run settings of the ultrasound simulator: scanner and physics, and the needle's echo.

Ranges are the domain randomisation: a model trained on the simulator sees gains, dynamic
ranges, grey maps, speckle sizes, compounding, TGC and noise levels across what L14-6 class
linear probes show in regional anaesthesia.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._us_needle import NeedleLook


@dataclass(frozen=True, slots=True)
class UsImaging:
    """Scanner settings and physics of one run (drawn per seed when randomised)."""

    frequency_mhz: float
    atten_db_per_mm: float
    """Round-trip soft-tissue attenuation, dB per mm of depth."""
    tgc_compensation: float
    """Fraction of that attenuation the TGC gives back (0-1)."""
    near_db: float
    """TGC cut at the skin, dB (fades over 4 mm)."""
    gain_db: float
    """Amplitude shown white, dB re. 1.0."""
    dynamic_range_db: float
    grey_gamma: float
    """Grey map exponent after log compression (>1 darkens the mid-greys)."""
    axial_mm: float
    """Axial PSF sigma, mm."""
    lateral_mm: float
    """Lateral PSF sigma at the focus, mm."""
    defocus: float
    """Extra relative lateral PSF width one image height away from the focus."""
    focus_mm: float
    speckle_looks: int
    """Spatial compounding: independent speckle patterns averaged in power (1: none)."""
    speckle_contrast: float
    """Speckle-reduction post-processing: 1.0 none, lower flattens the envelope."""
    noise_db: float
    """Electronic noise at the image bottom, dB relative to the display's black level."""
    probe_motion_mm: float
    """Lateral probe sway amplitude, mm."""


def sample_imaging(rng: np.random.Generator, depth_mm: float, randomize: bool) -> UsImaging:
    """Scanner settings for a ``depth_mm`` image; mid-range values when not ``randomize``."""

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi)) if randomize else 0.5 * (lo + hi)

    f = u(7.0, 12.0)
    return UsImaging(
        frequency_mhz=f,
        atten_db_per_mm=2 * 0.05 * f * u(0.8, 1.2),
        tgc_compensation=u(0.5, 0.85),
        near_db=u(0.0, 8.0),
        gain_db=u(25.0, 34.0),
        dynamic_range_db=u(55.0, 70.0),
        grey_gamma=u(1.8, 2.6),
        axial_mm=u(0.8, 1.2) * 1.0 / f,
        lateral_mm=u(0.8, 1.2) * 2.1 / f,
        defocus=u(0.3, 1.0),
        focus_mm=u(0.3, 0.7) * depth_mm,
        speckle_looks=int(rng.integers(1, 5)) if randomize else 2,
        speckle_contrast=u(0.6, 1.0),
        noise_db=u(-8.0, 4.0),
        probe_motion_mm=u(0.0, 0.8),
    )


def sample_needle_look(rng: np.random.Generator, randomize: bool) -> NeedleLook:
    """The needle's echo; mid-range values when not ``randomize``."""

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi)) if randomize else 0.5 * (lo + hi)

    return NeedleLook(
        diameter_mm=u(0.5, 0.9),
        shaft_gain=u(10.0, 40.0),
        falloff_deg=u(35.0, 55.0),
        tip_gain=u(15.0, 40.0),
        reverb_decay=u(0.15, 0.4),
        n_reverb=int(rng.integers(1, 6)) if randomize else 3,
        shadow=u(0.05, 0.3),
    )
