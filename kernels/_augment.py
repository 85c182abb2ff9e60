"""Augmentation pieces the training tasks share: scanner and display changes of a grey image.

:func:`jitter_intensity` runs one fixed chain (resolution loss, blur, haze, depth-gain ramp,
speckle-like and additive noise, gain and gamma, JPEG artefacts) with each task's own
probabilities and ranges (:class:`IntensityJitter`); :func:`random_blur` and
:func:`random_noise` are two of its links on their own; :func:`warp_pair` moves an image and
its labels together; :func:`scanner_border` puts them on a scanner's screen (letterboxed, with
burnt-in text and a depth scale around the image). Every random draw comes from the caller's
generator, in a fixed order: the same generator state gives the same image.
"""

from __future__ import annotations

import math
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


# -- scanner borders: letterboxing, burnt-in text and a depth scale -----------------------------
_SCANNER_WORDS = (
    "L12-5",
    "L14-6",
    "HFL38",
    "MSK",
    "Nerve",
    "NRV",
    "SmP",
    "Gen",
    "Res",
    "Pen",
    "THI",
    "2D",
    "CHI",
    "Gn",
    "DR",
    "FR",
    "MI",
    "TIS",
    "TIB",
    "AO",
    "Frq",
)
_SCANNER_UNITS = ("cm", "dB", "Hz", "%", "MHz", "")


def _scanner_text(rng: np.random.Generator) -> str:
    """A short label as scanners burn into the frame: a word, a number and a unit."""
    word = _SCANNER_WORDS[int(rng.integers(len(_SCANNER_WORDS)))]
    if rng.uniform() < 0.3:
        return word
    number = f"{rng.uniform(0.1, 99.0):.{int(rng.integers(0, 2))}f}"
    return f"{word} {number}{_SCANNER_UNITS[int(rng.integers(len(_SCANNER_UNITS)))]}"


def _resize_labels(labels: U8, size_wh: tuple[int, int]) -> U8:
    """``labels`` uint8 (H, W) class indices resized to ``size_wh`` (W, H): each output pixel
    gets the non-zero class that covers most of it if that covers at least ``0.45 * min(1,
    scale)`` of it (so a one-pixel line survives a shrink), else 0 (background)."""
    classes = [int(c) for c in np.unique(labels) if c != 0]
    out = np.zeros(size_wh[::-1], np.uint8)
    if not classes:
        return out
    scale = min(1.0, size_wh[0] / labels.shape[1], size_wh[1] / labels.shape[0])
    cover = np.stack(
        [
            np.asarray(
                cv2.resize((labels == c).astype(np.float32), size_wh, interpolation=cv2.INTER_AREA)
            )
            for c in classes
        ]
    )
    best = np.argmax(cover, axis=0)
    hit = np.take_along_axis(cover, best[None], axis=0)[0] >= 0.45 * scale
    out[hit] = np.asarray(classes, np.uint8)[best[hit]]
    return out


def scanner_border(
    image: U8,
    labels: U8,
    rng: np.random.Generator,
    *,
    canvas_hw: tuple[int, int] | None = None,
    frame_aspect: tuple[float, float] | None = (1.2, 1.8),
    content_height: tuple[float, float] = (0.6, 0.95),
) -> tuple[U8, U8, npt.NDArray[np.float64]]:
    """``image`` and ``labels`` uint8 (H, W) as a scanner's screen shows them: shrunk (or
    enlarged) into a black canvas with burnt-in text and a depth scale in the border.

    The canvas is ``canvas_hw`` (default (H, W)). The scanner's frame inside it has a
    width/height ratio drawn from ``frame_aspect``, letterboxed (centred, black bands) into
    the canvas; None: the frame is the whole canvas. The image's lit part (the bounding box of
    its non-zero pixels, so earlier black padding is dropped) keeps its aspect ratio, is
    ``content_height`` (drawn) of the frame's height (narrower if the frame is too narrow) and
    sits at a random place in the frame. In the frame around it: 2-7 white or grey text labels
    (``cv2.putText``), often a depth scale (a line with ticks and numbers) beside the image,
    sometimes a grey bar; never over the image. Labels move with the image (area-weighted: a
    class covering at least 0.45 x the shrink factor of a pixel labels it, so thin lines are
    kept) and are 0 (background) everywhere else.

    Returns (image uint8 (Hc, Wc), labels uint8 (Hc, Wc), ``m`` float64 (2, 3)): the affine
    from input (x, y) px to output px, ``m @ (x, y, 1)`` (for tips and points). Every draw
    comes from ``rng`` in a fixed order: the same generator state gives the same output.
    """
    if image.ndim != 2 or image.shape != labels.shape:
        raise ValueError(
            f"image and labels must be (H, W) of one shape, got {image.shape} and {labels.shape}"
        )
    hc, wc = canvas_hw or image.shape
    if hc < 8 or wc < 8:
        raise ValueError(f"canvas must be at least 8 x 8 px, got {hc} x {wc}")
    lit_r, lit_c = np.nonzero(image.any(axis=1))[0], np.nonzero(image.any(axis=0))[0]
    if len(lit_r) == 0:
        lit_r, lit_c = np.arange(image.shape[0]), np.arange(image.shape[1])
    by0, by1, bx0, bx1 = int(lit_r[0]), int(lit_r[-1]) + 1, int(lit_c[0]), int(lit_c[-1]) + 1
    h0, w0 = by1 - by0, bx1 - bx0
    # the scanner's frame in the canvas
    if frame_aspect is None:
        fx0, fy0, fw, fh = 0.0, 0.0, float(wc), float(hc)
    else:
        ratio = float(rng.uniform(*frame_aspect))
        fw = min(float(wc), hc * ratio)
        fh = fw / ratio
        fx0, fy0 = (wc - fw) / 2, (hc - fh) / 2
    # the image in the frame
    ch = fh * float(rng.uniform(*content_height))
    cw = ch * w0 / h0
    if cw > 0.97 * fw:
        cw, ch = 0.97 * fw, 0.97 * fw * h0 / w0
    cw_i, ch_i = max(4, round(cw)), max(4, round(ch))
    x0 = int(fx0 + rng.uniform() * max(fw - cw_i, 0.0))
    y0 = int(fy0 + rng.uniform() * max(fh - ch_i, 0.0))
    x0, y0 = min(max(x0, 0), wc - cw_i), min(max(y0, 0), hc - ch_i)
    kx, ky = cw_i / w0, ch_i / h0
    shrink = kx * ky < 1.0
    crop = np.ascontiguousarray(image[by0:by1, bx0:bx1])
    out = np.zeros((hc, wc), np.uint8)
    out[y0 : y0 + ch_i, x0 : x0 + cw_i] = cv2.resize(
        crop, (cw_i, ch_i), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    lab = np.zeros((hc, wc), np.uint8)
    lab[y0 : y0 + ch_i, x0 : x0 + cw_i] = _resize_labels(
        np.ascontiguousarray(labels[by0:by1, bx0:bx1]), (cw_i, ch_i)
    )
    # pixel centres map to pixel centres: x' + 0.5 = kx (x + 0.5 - bx0) + x0
    m = np.array(
        [[kx, 0.0, kx * (0.5 - bx0) + x0 - 0.5], [0.0, ky, ky * (0.5 - by0) + y0 - 0.5]],
        np.float64,
    )
    # the overlay: text, depth scale, grey bar, inside the frame, outside the image
    layer = np.zeros((hc, wc), np.uint8)
    font_scale = fh / 440.0 * float(rng.uniform(0.8, 1.5))
    thick = 1 if font_scale < 0.9 else 2
    font = cv2.FONT_HERSHEY_SIMPLEX if rng.uniform() < 0.7 else cv2.FONT_HERSHEY_PLAIN
    for _ in range(int(rng.integers(2, 8))):
        text = _scanner_text(rng)
        grey = int(rng.integers(140, 256))
        (tw, th), base = cv2.getTextSize(text, font, font_scale, thick)
        tx = int(fx0 + rng.uniform() * max(fw - tw, 1.0))
        ty = int(fy0 + th + rng.uniform() * max(fh - th - base, 1.0))
        clear = tx + tw < x0 - 1 or tx > x0 + cw_i or ty + base < y0 - 1 or ty - th > y0 + ch_i
        if clear:
            cv2.putText(layer, text, (tx, ty), font, font_scale, grey, thick, cv2.LINE_AA)
    if rng.uniform() < 0.8:  # depth scale beside the image: a line, ticks, some numbers
        gap = max(1, round(fh * float(rng.uniform(0.01, 0.04))))
        left = rng.uniform() < 0.5
        xs = x0 - gap if left else x0 + cw_i - 1 + gap
        tick = max(1, round(fh * float(rng.uniform(0.01, 0.03))))
        grey = int(rng.integers(120, 256))
        n_ticks = int(rng.integers(3, 9))
        cv2.line(layer, (xs, y0), (xs, y0 + ch_i - 1), grey, 1)
        numbered = rng.uniform() < 0.5
        for j in range(n_ticks + 1):
            yt = y0 + round(j * (ch_i - 1) / n_ticks)
            cv2.line(layer, (xs, yt), (xs - tick if left else xs + tick, yt), grey, 1)
            if numbered and j > 0:
                (tw, _), _ = cv2.getTextSize(str(j), font, font_scale, 1)
                xt = xs - tick - 1 - tw if left else xs + tick + 1
                cv2.putText(layer, str(j), (xt, yt), font, font_scale, grey, 1, cv2.LINE_AA)
    if rng.uniform() < 0.3:  # a grey-scale bar
        bw = max(1, round(fh * 0.02))
        bh = max(4, round(fh * float(rng.uniform(0.15, 0.4))))
        bx = int(fx0 + rng.uniform() * max(fw - bw, 1.0))
        by = int(fy0 + rng.uniform() * max(fh - bh, 1.0))
        ramp = np.linspace(255, 0, bh, dtype=np.float32)[:, None].repeat(bw, 1)
        layer[by : by + bh, bx : bx + bw] = np.maximum(
            layer[by : by + bh, bx : bx + bw], ramp[: hc - by, : wc - bx].astype(np.uint8)
        )
    # only inside the frame, never over the image
    keep = np.zeros((hc, wc), bool)
    keep[int(fy0) : math.ceil(fy0 + fh), int(fx0) : math.ceil(fx0 + fw)] = True
    keep[y0 : y0 + ch_i, x0 : x0 + cw_i] = False
    out = np.where(keep, np.maximum(out, layer), out)
    return out, lab, m
