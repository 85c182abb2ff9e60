"""Per-frame telemetry of the OR display: one JSON object per frame sent to a viewer.

Generic over what the stages computed: each entry of ``frame.results`` becomes its
``to_json()`` when it has one, else itself when it is plain JSON; a 2-D uint8 or bool array
(a mask) becomes its outlines per class index (:func:`mask_contours`), so the page draws
overlays on a canvas over the video; anything else is left out. Floats that are not finite
become null. ``pts`` is the frame's video timestamp (:func:`video_pts`) so the page can match a
decoded video frame (``requestVideoFrameCallback`` ``metadata.rtpTimestamp``) to its telemetry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ._jsonl import _SKIP, plain_json

VIDEO_CLOCK_HZ: Final = 90_000
"""The RTP video clock: ``pts`` ticks per second."""
MAX_CLASSES: Final = 16
"""Class indices above this in a mask are not outlined (a mask is class indices, not an image)."""
MAX_CONTOURS: Final = 32
"""Outlines kept per class (the largest); the rest are noise for a display."""
_EPSILON_PX: Final = 1.0
"""Outline simplification tolerance (Douglas-Peucker), px."""
_TAG_TICKS: Final = 32
_MASK64: Final = (1 << 64) - 1


def video_pts(t_capture_ns: int, seq: int) -> int:
    """The frame's video timestamp in 90 kHz ticks: its capture time plus a tag of 0..31 ticks
    (< 0.36 ms) from ``seq``, so two frames never share the same spacing of timestamps even
    when the capture clock is perfectly regular (the page finds the sender's random RTP
    timestamp origin by matching spacings). Increasing while frames are > 0.36 ms apart."""
    base = t_capture_ns * VIDEO_CLOCK_HZ // 1_000_000_000
    mixed = (seq * 0x9E3779B97F4A7C15) & _MASK64  # splitmix64's finaliser: a well-spread tag
    mixed = ((mixed ^ (mixed >> 31)) * 0xBF58476D1CE4E5B9) & _MASK64
    tag = (mixed ^ (mixed >> 29)) % _TAG_TICKS
    return int(base - base % _TAG_TICKS + tag + _TAG_TICKS)


def to_grey_or_rgb8(pixels: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """uint8 (H, W) or (H, W, 3) of any grey/RGB(A) frame; other dtypes are stretched from
    their own min..max to 0..255 (a 16-bit fluoroscopy frame, float images)."""
    image = pixels
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"cannot show pixels of shape {pixels.shape}")
    if image.dtype != np.uint8:
        image = cv2.normalize(
            np.asarray(image, np.float32), None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U
        )
    return np.ascontiguousarray(image)


def mask_contours(mask: npt.NDArray[Any]) -> dict[str, list[list[list[int]]]]:
    """Outlines of each foreground class of a 2-D class-index mask (uint8 or bool, (H, W)):
    ``{"1": [[[x, y], ...], ...], ...}``, image px, simplified to within 1 px, at most
    :data:`MAX_CONTOURS` per class (largest first); empty for an empty mask."""
    labels = mask.astype(np.uint8, copy=False)
    out: dict[str, list[list[list[int]]]] = {}
    present = np.unique(labels) if labels.size else np.empty(0, np.uint8)
    for value in present[(present > 0) & (present <= MAX_CLASSES)]:
        binary = np.ascontiguousarray(labels == value, dtype=np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        contours = sorted(contours, key=cv2.contourArea, reverse=True)[:MAX_CONTOURS]
        outlines: list[list[list[int]]] = [
            cv2.approxPolyDP(c, _EPSILON_PX, True).reshape(-1, 2).astype(int).tolist()
            for c in contours
        ]
        out[str(int(value))] = [o for o in outlines if o]
    return out


def is_mask(value: Any) -> bool:
    """True for a 2-D numpy uint8 or bool array (what the display outlines)."""
    return isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype in (np.uint8, bool)


def frame_telemetry(
    header: Mapping[str, Any],
    results: Mapping[str, Any],
    errors: list[str] | None = None,
) -> dict[str, Any]:
    """The telemetry object of one frame: ``header`` (stream, seq, times, size...: plain JSON,
    copied in) plus ``results`` (each entry's ``to_json()`` or plain JSON) and ``contours``
    (masks' outlines by result key). A result whose ``to_json()`` raises is left out and its key
    appended to ``errors``."""
    out_results: dict[str, Any] = {}
    contours: dict[str, Any] = {}
    for key, value in results.items():
        if is_mask(value):
            contours[str(key)] = mask_contours(value)
            continue
        to_json = getattr(value, "to_json", None)
        mapped = value
        if callable(to_json):
            try:
                mapped = to_json()
            except Exception:  # one bad result must not lose the frame's telemetry
                if errors is not None:
                    errors.append(str(key))
                continue
        plain = plain_json(mapped)
        if plain is not _SKIP:
            out_results[str(key)] = plain
    document = {str(k): plain_json(v) for k, v in header.items()}
    document["results"] = out_results
    document["contours"] = contours
    return document
