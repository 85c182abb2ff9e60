"""Augmentation pieces the training tasks share: scanner and display changes of a grey image.

:func:`jitter_intensity` runs one fixed chain (resolution loss, blur, haze, depth-gain ramp,
speckle-like and additive noise, gain and gamma, JPEG artefacts) with each task's own
probabilities and ranges (:class:`IntensityJitter`); :func:`random_blur` and
:func:`random_noise` are two of its links on their own; :func:`warp_pair` moves an image and
its labels together. Every random draw comes from the caller's generator, in a fixed order: the
same generator state gives the same image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
Chance = tuple[float, float, float]
"""(probability, low, high): the change happens with that probability, its strength drawn
uniformly in [low, high)."""


@dataclass(frozen=True)
class IntensityJitter:
    """Probabilities and ranges of each link of :func:`jitter_intensity`, in chain order.

    ``resolution``: shrink factor of a down-and-up resize; ``blur``: Gaussian sigma px;
    ``lit_haze``: a level added to lit pixels only (> 0.01), before the ramp; ``ramp``: slope
    of a depth-gain ramp ``1 + slope * (row / H - 0.5)``; ``haze``: a level added everywhere,
    after the ramp; ``speckle``: sigma of multiplicative noise; ``noise``: sigma of additive
    noise (image 0-1); ``gain`` and ``gamma``: (low, high), drawn log-uniformly, always
    applied; ``jpeg``: (probability, lowest quality, highest quality + 1). An optional link
    that is None draws nothing.
    """

    resolution: Chance
    blur: Chance
    ramp: Chance
    speckle: Chance
    noise: Chance
    gain: tuple[float, float]
    gamma: tuple[float, float]
    jpeg: tuple[float, int, int]
    lit_haze: Chance | None = None
    haze: Chance | None = None


def random_blur(x: F32, rng: np.random.Generator, chance: Chance) -> F32:
    """``x`` float32 (H, W) Gaussian-blurred (sigma in px) with ``chance``, else as is."""
    p, low, high = chance
    if rng.uniform() < p:
        x = np.asarray(cv2.GaussianBlur(x, (0, 0), float(rng.uniform(low, high))), np.float32)
    return x


def random_noise(x: F32, rng: np.random.Generator, chance: Chance) -> F32:
    """``x`` float32 (H, W) plus Gaussian noise (sigma in ``x``'s units) with ``chance``."""
    p, low, high = chance
    if rng.uniform() < p:
        x = x + rng.normal(0.0, float(rng.uniform(low, high)), x.shape).astype(np.float32)
    return x


def _resolution_loss(x: F32, rng: np.random.Generator, chance: Chance) -> F32:
    p, low, high = chance
    if rng.uniform() < p:
        h, w = x.shape
        f = float(rng.uniform(low, high))
        small = cv2.resize(
            x, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA
        )
        x = np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    return x


def _haze(x: F32, rng: np.random.Generator, chance: Chance | None, lit_only: bool) -> F32:
    if chance is None:
        return x
    lit = x > 0.01 if lit_only else None
    p, low, high = chance
    if rng.uniform() < p:
        level = float(rng.uniform(low, high))
        x = x + level if lit is None else np.where(lit, x + level, x)
    return x


def _ramp(x: F32, rng: np.random.Generator, chance: Chance) -> F32:
    p, low, high = chance
    if rng.uniform() < p:
        slope = float(rng.uniform(low, high))
        x = x * (1.0 + slope * np.linspace(-0.5, 0.5, x.shape[0], dtype=np.float32))[:, None]
    return x


def _speckle(x: F32, rng: np.random.Generator, chance: Chance) -> F32:
    p, low, high = chance
    if rng.uniform() < p:
        x = x * (1.0 + rng.normal(0.0, float(rng.uniform(low, high)), x.shape).astype(np.float32))
    return x


def _jpeg(img: U8, rng: np.random.Generator, jpeg: tuple[float, int, int]) -> U8:
    p, low, high = jpeg
    if rng.uniform() < p:
        quality = int(rng.integers(low, high))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            img = np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), np.uint8)
    return img


def jitter_intensity(image: U8, rng: np.random.Generator, jitter: IntensityJitter) -> U8:
    """A randomly altered copy of ``image`` uint8 (H, W), same shape: the chain of
    :class:`IntensityJitter` on the image scaled to 0-1, clipped, back to uint8."""
    x = image.astype(np.float32) / 255.0
    x = _resolution_loss(x, rng, jitter.resolution)
    x = random_blur(x, rng, jitter.blur)
    x = _haze(x, rng, jitter.lit_haze, lit_only=True)
    x = _ramp(x, rng, jitter.ramp)
    x = _haze(x, rng, jitter.haze, lit_only=False)
    x = _speckle(x, rng, jitter.speckle)
    x = random_noise(x, rng, jitter.noise)
    gain = float(np.exp(rng.uniform(np.log(jitter.gain[0]), np.log(jitter.gain[1]))))
    gamma = float(np.exp(rng.uniform(np.log(jitter.gamma[0]), np.log(jitter.gamma[1]))))
    x = np.clip(x * gain, 0.0, 1.0) ** gamma
    return _jpeg((x * 255.0 + 0.5).astype(np.uint8), rng, jitter.jpeg)


def warp_pair(image: U8, labels: U8, m: npt.NDArray[np.float64]) -> tuple[U8, U8]:
    """``image`` (bilinear) and ``labels`` (nearest neighbour), uint8 (H, W), under the 2 x 3
    affine ``m`` (output px to input px inverted, as ``cv2.warpAffine``); black outside."""
    h, w = image.shape
    img = cv2.warpAffine(
        np.ascontiguousarray(image), m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0
    )
    lab = cv2.warpAffine(
        np.ascontiguousarray(labels), m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return np.asarray(img), np.asarray(lab)
