"""Segmentation with any backend on images of any size: grey, letterbox, run, back to size.

An image of any shape is made grey (uint8), padded to a square with black (so the anatomy
keeps its aspect ratio: the models are trained on square sector images), resized to the
model's input, normalised and run in batches; the logits are resized back (bilinear) to the
padded square, cropped to the image and arg-maxed. The masks are uint8 class indices at the
image's own size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import array_api_compat as aac
import cv2
import numpy as np
import numpy.typing as npt

from ._backends import Backend
from ._models import normalize

U8 = npt.NDArray[np.uint8]


def to_grey(pixels: npt.ArrayLike) -> U8:
    """uint8 (H, W) grey of (H, W) or (H, W, 1|3|4) pixels (RGB order for colour).

    uint8 stays as is; other integer dtypes and floats are scaled so their maximum is 255
    (an all-zero image stays zero). ValueError for any other shape.
    """
    arr = np.asarray(pixels)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        if arr.dtype != np.uint8:
            arr = _to_u8(arr)
        code = cv2.COLOR_RGB2GRAY if arr.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
        return np.ascontiguousarray(cv2.cvtColor(np.ascontiguousarray(arr), code))
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"expected a 2-D grey or RGB image; got an array of shape {arr.shape}")
    return np.ascontiguousarray(arr if arr.dtype == np.uint8 else _to_u8(arr))


def _to_u8(arr: npt.NDArray[Any]) -> U8:
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"cannot read pixels of dtype {arr.dtype} as an image")
    x = arr.astype(np.float32)
    top = float(np.nanmax(x)) if x.size else 0.0
    scale = 255.0 / top if top > 0 else 0.0
    out: U8 = np.clip(np.nan_to_num(x * scale), 0, 255).astype(np.uint8)
    return out


def letterbox(image: U8) -> tuple[U8, tuple[int, int]]:
    """(square uint8 image, (top, left) offset of ``image`` in it): black padding, centred."""
    h, w = image.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    if h == w:
        return image, (0, 0)
    square = np.zeros((side, side), np.uint8)
    square[top : top + h, left : left + w] = image
    return square, (top, left)


def to_model_input(image: U8, size: tuple[int, int]) -> U8:
    """uint8 (H, W) grey ``image`` letterboxed to a square and resized to ``size`` (H, W):
    area when shrinking, bilinear when enlarging (what every model sees, in training too)."""
    square, _ = letterbox(image)
    if square.shape == tuple(size):
        return square
    interp = cv2.INTER_AREA if square.shape[0] > size[0] else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(square, (size[1], size[0]), interpolation=interp), np.uint8)


def _chunks(items: Iterable[U8], size: int) -> Iterator[list[U8]]:
    chunk: list[U8] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def logits_to_mask(logits: npt.NDArray[np.float32], shape: tuple[int, int]) -> U8:
    """uint8 (H, W) arg-max mask of float32 (K, h, w) logits resized (bilinear) so that the
    letterboxed square of an image of ``shape`` (H, W) fits, then cropped to the image."""
    h, w = shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    k = logits.shape[0]
    hwk = np.ascontiguousarray(logits.transpose(1, 2, 0))
    if hwk.shape[:2] != (side, side):
        hwk = np.asarray(cv2.resize(hwk, (side, side), interpolation=cv2.INTER_LINEAR), np.float32)
    crop = hwk.reshape(side, side, k)[top : top + h, left : left + w]
    return np.ascontiguousarray(np.argmax(crop, axis=2).astype(np.uint8))


def segment_images(
    backend: Backend, images: Iterable[npt.ArrayLike], *, batch_size: int = 16
) -> Iterator[U8]:
    """uint8 (H, W) class-index masks, one per image, each at its image's own size.

    ``images``: any iterable of (H, W) or (H, W, 3) arrays (see :func:`to_grey`); they are
    pulled lazily, ``batch_size`` at a time, so a long clip never sits in memory whole.
    """
    model = backend.model
    in_h, in_w = model.input_size
    greys = (to_grey(image) for image in images)
    for chunk in _chunks(greys, max(1, batch_size)):
        shapes = [g.shape for g in chunk]
        resized = []
        for grey in chunk:
            resized.append(to_model_input(grey, (in_h, in_w)))
        logits = backend.run(model.preprocess(np.stack(resized)))
        for item, shape in zip(logits[:, : model.n_classes], shapes, strict=True):
            yield logits_to_mask(item, (int(shape[0]), int(shape[1])))


def segment_on_device(backend: Any, frames: Any) -> Any:
    """uint8 (N, H, W) class-index masks of grey frames (N, H, W) or (H, W) that already live
    on a device, every step there: letterbox, resize to the model input (area when shrinking,
    linear when enlarging), the sidecar's normalisation, ``backend.run_torch``, logits back to
    the square (bilinear), crop, arg-max. The masks come back in ``frames``' library (CuPy or
    torch) and on its device; nothing passes through the host.

    The same steps as :func:`segment_images` in the array API (``kernels._prepost``), so the
    masks agree with it up to resampling rounding. ``backend``: one with ``run_torch`` (the
    torch backend on its device, TensorRT); ``frames``: uint8 or float grey levels, a CUDA or
    CPU torch tensor or a CuPy array.
    """
    from torch.utils.dlpack import from_dlpack

    from . import _prepost as pp
    from ._arrays import to_cupy

    run_torch = getattr(backend, "run_torch", None)
    if run_torch is None:
        raise ValueError(f"backend {backend.name} has no run_torch: use segment_images")
    model = backend.model
    xp = aac.array_namespace(frames)
    x = frames if frames.ndim == 3 else frames[None, ...]
    if x.ndim != 3:
        raise ValueError(f"expected grey frames (N, H, W) or (H, W); got {tuple(frames.shape)}")
    n, h, w = (int(v) for v in x.shape)
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = xp.zeros((n, side, side), dtype=x.dtype, device=aac.device(x))
    square[:, top : top + h, left : left + w] = x
    in_h, in_w = model.input_size
    small = pp.resize(square, (in_h, in_w), "area" if side > in_h else "linear")
    net_in = normalize(small, model.normalization, model.input_size)
    logits = run_torch(net_in if aac.is_torch_array(net_in) else from_dlpack(net_in))
    scores = pp.resize(logits[:, : model.n_classes], (side, side), "linear")
    masks = pp.argmax_labels(scores[..., top : top + h, left : left + w])
    if aac.is_torch_array(frames):
        return masks
    return to_cupy(masks)


def segment(backend: Backend, image: npt.ArrayLike) -> U8:
    """uint8 (H, W) class-index mask of one image (see :func:`segment_images`)."""
    return next(segment_images(backend, [image], batch_size=1))


def dice_scores(
    pred: npt.ArrayLike, truth: npt.ArrayLike, n_classes: int
) -> npt.NDArray[np.float64]:
    """Dice per foreground class, float64 (N, K-1), of integer masks (N, H, W) or (H, W);
    NaN where a class is absent from both (the pure-function twin of MONAI's DiceMetric)."""
    p, t = np.asarray(pred), np.asarray(truth)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    if p.ndim == 2:
        p, t = p[None], t[None]
    out = np.full((len(p), n_classes - 1), np.nan)
    for c in range(1, n_classes):
        pc = (p == c).reshape(len(p), -1)
        tc = (t == c).reshape(len(t), -1)
        inter = np.count_nonzero(pc & tc, axis=1)
        total = np.count_nonzero(pc, axis=1) + np.count_nonzero(tc, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c - 1] = np.where(total > 0, 2.0 * inter / np.maximum(total, 1), np.nan)
    return out


def mask_dice(a: npt.ArrayLike, b: npt.ArrayLike, n_classes: int) -> float:
    """Mean over classes present of :func:`dice_scores` of two masks (backend parity)."""
    scores = dice_scores(a, b, n_classes)
    return float(np.nanmean(scores)) if np.isfinite(scores).any() else 1.0
