"""B-mode image formation helpers for the linear-array ultrasound simulator (numpy + OpenCV).

The simulator builds an *amplitude* image (linear echo amplitude, 1.0 = 0 dB, float32) from an
echogenicity map and a speckle field, applies attenuation and time-gain compensation (TGC), adds
electronic noise, then log-compresses to 8-bit grey. Everything here is deterministic for a given
``numpy.random.Generator`` state and single-threaded-safe; arrays are (rows, columns) = (depth,
lateral), row 0 at the transducer face.

Functions:

- :func:`speckle_envelope`: fully developed speckle (Rayleigh envelope of PSF-filtered complex
  Gaussian scatterers), with a lateral resolution that worsens away from the focal depth.
- :func:`psf_blur`: the same separable Gaussian point-spread function applied to a map.
- :func:`attenuation_cumulative`: round-trip attenuation integrated along the beam (rows).
- :func:`tgc_gain`: the scanner's depth gain that compensates part of that attenuation.
- :func:`log_compress`: amplitude -> dB -> 8-bit grey with gain, dynamic range and a grey map.
- :func:`smooth_curve`: a random smooth 1-D profile (layer boundaries, fascia lines).
- :func:`hash_u64`: a stateless integer hash for per-frame choices that must not depend on order.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

DB_PER_NEPER = 20.0 / math.log(10.0)
"""Amplitude decibels per neper (8.686 dB)."""


def speckle_envelope(
    rng: np.random.Generator,
    shape: tuple[int, int],
    sigma_axial_px: float,
    sigma_lateral_px: float,
    *,
    focus_row: float,
    defocus_gain: float = 1.0,
    looks: int = 1,
    contrast: float = 1.0,
) -> F32:
    """Speckle amplitude field of shape ``shape`` = (rows, cols), float32, mean 1 per row.

    Complex Gaussian scatterers are filtered by a Gaussian PSF (``sigma_axial_px`` along rows,
    ``sigma_lateral_px`` along columns, in pixels); the lateral width grows linearly with the
    distance from ``focus_row`` (``defocus_gain`` = extra lateral sigma at one image height from
    focus, relative). ``looks`` independent fields are averaged in power (spatial compounding:
    1 keeps the Rayleigh statistics, speckle SNR 1.91; 4 halves the contrast); ``contrast`` < 1
    further flattens the envelope (``1 - c + c * env``, post-processing speckle reduction).
    """
    rows, cols = shape
    sa = max(sigma_axial_px, 0.3)
    w = np.clip(np.abs(np.arange(rows, dtype=np.float32) - focus_row) / rows, 0.0, 1.0)
    w = w.reshape(rows, 1, 1)
    power = np.zeros(shape, np.float32)
    for _ in range(max(looks, 1)):
        z = rng.standard_normal((rows, cols, 2), dtype=np.float32)
        field = np.zeros_like(z)
        for lateral, weight in (
            (sigma_lateral_px, 1.0 - w),
            (sigma_lateral_px * (1.0 + defocus_gain), w),
        ):
            f = np.asarray(
                cv2.GaussianBlur(z, (0, 0), sigmaX=max(lateral, 0.3), sigmaY=sa), np.float32
            )
            field += f * (weight / float(np.sqrt(np.mean(f * f))))
        power += field[..., 0] ** 2 + field[..., 1] ** 2
    env = np.sqrt(power)
    env /= env.mean(axis=1, keepdims=True)
    if contrast < 1.0:
        env = (1.0 - contrast) + contrast * env
    return np.ascontiguousarray(env, dtype=np.float32)


def psf_blur(image: F32, sigma_axial_px: float, sigma_lateral_px: float) -> F32:
    """Blur a (rows, cols) float32 map by the Gaussian PSF (sigmas in pixels); same shape."""
    return np.asarray(
        cv2.GaussianBlur(
            image,
            (0, 0),
            sigmaX=max(sigma_lateral_px, 0.3),
            sigmaY=max(sigma_axial_px, 0.3),
            borderType=cv2.BORDER_REFLECT,
        ),
        dtype=np.float32,
    )


def attenuation_cumulative(atten_np_per_px: F32) -> F32:
    """Round-trip attenuation in nepers reached *before* each pixel, (rows, cols) float32.

    ``atten_np_per_px``: (rows, cols) round-trip attenuation of each pixel's tissue, nepers per
    pixel of depth. The result excludes the pixel itself, so a strong reflector is not shadowed
    by its own attenuation. Multiply amplitudes by ``exp(-result)``.
    """
    cum: F32 = np.cumsum(atten_np_per_px, axis=0, dtype=np.float32)
    cum -= atten_np_per_px
    return cum


def tgc_gain(
    rows: int, spacing_mm: float, atten_db_per_mm: float, compensation: float, near_db: float
) -> F32:
    """Time-gain compensation as a (rows, 1) float32 amplitude factor.

    Compensates ``compensation`` (0-1) of a uniform round-trip attenuation of
    ``atten_db_per_mm`` (dB per mm of depth), plus a near-field cut of ``near_db`` dB that fades
    out over the first 4 mm (scanners dim the skin line).
    """
    depth_mm = (np.arange(rows, dtype=np.float32) + 0.5) * spacing_mm
    db = compensation * atten_db_per_mm * depth_mm - near_db * np.exp(-depth_mm / 4.0)
    gain: F32 = np.power(10.0, db / 20.0).astype(np.float32).reshape(rows, 1)
    return gain


def grey_map_lut(gamma: float) -> U8:
    """A 256-entry grey map ``255 * (v / 255) ** gamma`` (uint8), applied after compression."""
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(np.round(255.0 * v**gamma), 0, 255).astype(np.uint8)


def log_compress(
    amplitude: F32, gain_db: float, dynamic_range_db: float, lut: U8 | None = None
) -> U8:
    """Log-compress a (rows, cols) amplitude image (>0, float32) to uint8 grey of the same shape.

    ``20 log10(amplitude)`` dB is mapped linearly so that ``gain_db`` is white (255) and
    ``gain_db - dynamic_range_db`` black (0); then the optional grey map ``lut`` is applied.
    The input is overwritten (used as scratch).
    """
    cv2.log(amplitude, amplitude)
    scale = DB_PER_NEPER * 255.0 / dynamic_range_db
    offset = (dynamic_range_db - gain_db) * 255.0 / dynamic_range_db
    amplitude *= scale
    amplitude += offset
    np.maximum(amplitude, 0.0, out=amplitude)
    out = cv2.convertScaleAbs(amplitude)
    if lut is not None:
        out = cv2.LUT(out, lut)
    return np.asarray(out, dtype=np.uint8)


def smooth_curve(
    rng: np.random.Generator,
    x_mm: npt.NDArray[np.float64],
    amplitude_mm: float,
    n_waves: int = 3,
    wavelength_mm: tuple[float, float] = (12.0, 70.0),
) -> npt.NDArray[np.float64]:
    """A random smooth zero-mean profile over ``x_mm`` (any shape), in mm.

    Sum of ``n_waves`` sinusoids with wavelengths drawn in ``wavelength_mm`` and random phases;
    the typical excursion is about ``amplitude_mm``.
    """
    out: npt.NDArray[np.float64] = np.zeros_like(x_mm, dtype=np.float64)
    for _ in range(n_waves):
        lam = rng.uniform(*wavelength_mm)
        out += rng.uniform(0.3, 1.0) * np.sin(2.0 * np.pi * x_mm / lam + rng.uniform(0, 2 * np.pi))
    out *= amplitude_mm / max(n_waves**0.5, 1.0)
    return out


_MASK64 = (1 << 64) - 1


def hash_u64(*values: int) -> int:
    """Stateless 64-bit hash (splitmix64 chain) of non-negative integers; same in any order of
    calls, so a frame's random choices depend only on (seed, index)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & _MASK64)) & _MASK64
        h = (h + 0x9E3779B97F4A7C15) & _MASK64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 31
    return h
