"""Pictures of a model's worst cases for the model cards: one drawer for every model.

A :class:`PanelCase` is one image with what to draw on it: outlines of masks (truth and
prediction in their colours), point marks (a true and a found tip) and a one-line caption,
optionally with an enlarged crop beside it. :func:`save_panel` draws cases into a grid PNG;
:func:`worst_cases_panel` is the segmentation case: the images of lowest score with each
class's truth and predicted outlines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

U8 = npt.NDArray[np.uint8]
BGR = tuple[int, int, int]

TRUTH_COLOUR: Final[BGR] = (0, 200, 0)
"""Truth outlines and marks: green."""
PREDICTION_COLOUR: Final[BGR] = (0, 0, 255)
"""Predicted outlines and marks: red."""


@dataclass(frozen=True, eq=False)
class PanelCase:
    """One image to draw: ``image`` uint8 grey (H, W) (or uint16, shown between its 1st and
    99.5th percentiles); ``outlines``: (mask (H, W), nonzero = inside; colour BGR) drawn as
    outlines; ``marks``: ((x, y) px, colour) drawn as a cross in a circle; ``caption`` under
    the image; ``zoom``: (x, y) px centre of a ``zoom_px`` square crop shown enlarged beside the
    image (None: no crop)."""

    image: npt.NDArray[np.generic]
    caption: str
    outlines: tuple[tuple[npt.NDArray[np.generic], BGR], ...] = ()
    marks: tuple[tuple[tuple[float, float], BGR], ...] = ()
    zoom: tuple[float, float] | None = None
    zoom_px: int = 64


def display_grey(image: npt.ArrayLike) -> U8:
    """uint8 grey for display: uint8 as is, anything else stretched from its 1st to its 99.5th
    percentile."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., 0]
    if a.dtype == np.uint8:
        return a
    f = a.astype(np.float32)
    lo, hi = np.percentile(f, (1.0, 99.5))
    out: U8 = np.clip((f - lo) / max(float(hi - lo), 1e-6) * 255.0, 0, 255).astype(np.uint8)
    return out


def _fit(shape: tuple[int, ...], size: int) -> tuple[float, int, int]:
    """(scale, x offset, y offset) that letterboxes an (H, W) image into size x size."""
    h, w = shape[:2]
    scale = size / max(h, w)
    return scale, (size - round(w * scale)) // 2, (size - round(h * scale)) // 2


def _view(case: PanelCase, box: tuple[int, int, int, int], size: int) -> U8:
    """The part ``box`` (x0, y0, x1, y1) of the case's image, letterboxed into size x size,
    with its outlines and marks."""
    x0, y0, x1, y1 = box
    grey = display_grey(case.image)[y0:y1, x0:x1]
    scale, dx, dy = _fit(grey.shape, size)
    h, w = round(grey.shape[0] * scale), round(grey.shape[1] * scale)
    tile = np.zeros((size, size, 3), np.uint8)
    shrink = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    tile[dy : dy + h, dx : dx + w] = cv2.cvtColor(
        cv2.resize(grey, (w, h), interpolation=shrink), cv2.COLOR_GRAY2BGR
    )
    for mask, colour in case.outlines:
        m = (np.asarray(mask)[y0:y1, x0:x1] != 0).astype(np.uint8)
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
        found, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(tile, found, -1, colour, 1, offset=(dx, dy))
    radius = max(5, size // 25)
    for (x, y), colour in case.marks:
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        cx, cy = round((x - x0 + 0.5) * scale - 0.5) + dx, round((y - y0 + 0.5) * scale - 0.5) + dy
        cv2.circle(tile, (cx, cy), radius, colour, 2)
        cv2.drawMarker(tile, (cx, cy), colour, cv2.MARKER_CROSS, radius, 1)
    return tile


def draw_case(case: PanelCase, size: int = 256) -> U8:
    """BGR uint8 tile of ``case``: the whole image letterboxed into size x size (and, with a
    zoom, its enlarged crop beside it, framed in the whole view), the caption in a strip
    below."""
    h, w = case.image.shape[:2]
    views = [_view(case, (0, 0, w, h), size)]
    if case.zoom is not None:
        half = case.zoom_px // 2
        cx = int(np.clip(round(case.zoom[0]), half, max(half, w - half)))
        cy = int(np.clip(round(case.zoom[1]), half, max(half, h - half)))
        box = (max(0, cx - half), max(0, cy - half), min(w, cx + half), min(h, cy + half))
        scale, dx, dy = _fit((h, w), size)
        corners = [(round(box[i] * scale) + dx, round(box[i + 1] * scale) + dy) for i in (0, 2)]
        cv2.rectangle(views[0], corners[0], corners[1], (0, 220, 255), 1)
        views.append(_view(case, box, size))
    strip = np.zeros((18, size * len(views), 3), np.uint8)
    cv2.putText(
        strip,
        case.caption,
        (3, 13),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.38,
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )
    return np.vstack([np.hstack(views), strip])


def write_palette_png(bgr: U8, path: Path, grey_levels: int = 128) -> None:
    """Write a BGR uint8 picture of grey images and a few pure overlay colours as an 8-bit
    palette PNG (about a third of the bytes): greys to ``grey_levels`` evenly spaced levels,
    every other colour exact; a plain RGB PNG when there are too many colours for one
    palette. OSError if it cannot be written."""
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    grey = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])
    colours = np.unique(rgb[~grey], axis=0)
    if len(colours) + grey_levels > 256:
        if not cv2.imwrite(str(path), bgr):
            raise OSError(f"could not write {path}")
        return
    top = grey_levels - 1
    index = np.zeros(grey.shape, np.uint8)
    index[grey] = np.round(rgb[..., 0][grey].astype(np.float32) * top / 255.0).astype(np.uint8)
    for k, colour in enumerate(colours):
        index[~grey & (rgb == colour).all(axis=-1)] = grey_levels + k
    levels = np.round(np.arange(grey_levels) * 255.0 / top).astype(np.uint8)
    palette = np.concatenate([np.repeat(levels[:, None], 3, axis=1), colours]).astype(np.uint8)
    picture = Image.fromarray(index, mode="P")
    picture.putpalette(palette.ravel().tolist())
    picture.save(path, format="PNG", optimize=True)


def save_panel(
    cases: Sequence[PanelCase],
    path: Path,
    *,
    size: int = 256,
    columns: int = 3,
    grey_levels: int = 128,
) -> Path:
    """Draw ``cases`` (:func:`draw_case`) into a grid of ``columns`` per row and write it as a
    PNG at ``path`` (folders made; :func:`write_palette_png` with ``grey_levels``); ValueError
    for no cases."""
    if not cases:
        raise ValueError("no cases to draw")
    tiles = [draw_case(c, size) for c in cases]
    width = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0))) for t in tiles]
    blank = np.zeros_like(tiles[0])
    rows = [
        np.hstack(tiles[i : i + columns] + [blank] * (columns - len(tiles[i : i + columns])))
        for i in range(0, len(tiles), columns)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_palette_png(np.vstack(rows), path, grey_levels)
    return path


class LabelledImages(Protocol):
    """Images with truth masks by name (``MaskFolder``, ``UsgraSet``)."""

    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def images(self) -> tuple[U8, ...]: ...
    @property
    def labels(self) -> tuple[U8, ...]: ...


def worst_cases_panel(
    data: LabelledImages,
    masks: Sequence[U8],
    score: npt.NDArray[np.float64],
    confidence: npt.NDArray[np.float64],
    path: Path,
    *,
    n: int = 6,
    lv: int = 1,
    colours: Mapping[int, tuple[BGR, BGR]] | None = None,
    size: int = 224,
    columns: int | None = None,
    grey_levels: int = 128,
) -> Path:
    """PNG of the ``n`` images of lowest ``score`` (e.g. LV Dice; NaN counts as 0): each image
    with the truth outline of every class in ``colours`` ({class: (truth BGR, predicted BGR)};
    default class ``lv`` green / red), its name, score and ``confidence``; ``columns`` per
    row (default all in one row); ``grey_levels`` of :func:`write_palette_png`."""
    classes = colours if colours is not None else {lv: (TRUTH_COLOUR, PREDICTION_COLOUR)}
    order = np.argsort(np.nan_to_num(score, nan=0.0), kind="stable")[:n]
    cases = [
        PanelCase(
            data.images[i],
            f"{data.names[i][-12:]} Dice {score[i]:.2f} conf {confidence[i]:.2f}",
            tuple(
                (mask == c, colour)
                for c, (truth, pred) in classes.items()
                for mask, colour in ((data.labels[i], truth), (masks[i], pred))
            ),
        )
        for i in order
    ]
    return save_panel(
        cases, path, size=size, columns=columns or len(cases), grey_levels=grey_levels
    )
