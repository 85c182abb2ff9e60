"""The live ultrasound pipeline: needle mask and tip (us-needle), nerves and vessels
(us-nerve-vessel), and the distance from the needle tip to the nearest nerve.

``UltrasoundStage`` puts ``frame.results["us"]`` (an :class:`UltrasoundResult`) and the
masks ``frame.results["needle_mask"]`` (its plausibility verdict, "is it a line with the tip
at one end", in the result's ``needle``) and ``frame.results["anatomy_mask"]`` (uint8 (H, W):
0 background, 1 nerve, 2 vessel) on every frame. Both models run on each frame, at the same
time: the needle model in a helper thread while the anatomy model runs in the caller's (ONNX
Runtime releases the GIL), so a frame costs about the larger model's time. They share nothing
else, so frames of different streams can go through the stage in different threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from ..kernels import (
    Backend,
    detect_needles,
    image_confidence,
    load_backend,
    nearest_distance_mm,
    needle_plausibility,
    segment_images_by_class,
    to_grey,
)
from ..stream import Frame
from ._results import SegmentationResult, TipResult, UltrasoundResult, to_mm


def _areas(
    model: str,
    names: tuple[str, ...],
    mask: npt.NDArray[np.uint8],
    spacing_mm: tuple[float, float] | None,
    confidence: float,
    *,
    by_class: dict[str, float] | None = None,
) -> SegmentationResult:
    counts = np.bincount(mask.ravel(), minlength=len(names))
    pixels = {name: int(counts[k]) for k, name in enumerate(names) if k > 0}
    area = None if spacing_mm is None else spacing_mm[0] * spacing_mm[1]
    return SegmentationResult(
        model=model,
        pixels=pixels,
        area_mm2=None if area is None else {k: v * area for k, v in pixels.items()},
        confidence=confidence,
        confidence_by_class=by_class,
    )


class UltrasoundStage:
    """Needle, nerves and vessels of each grey (H, W) uint8 frame (colour frames are made
    grey first)."""

    name = "us"

    def __init__(
        self,
        backend: str = "auto",
        needle_model: str = "us-needle",
        anatomy_model: str = "us-nerve-vessel",
    ) -> None:
        self.needle: Backend = load_backend(needle_model, backend)
        self.anatomy: Backend = load_backend(anatomy_model, backend)
        self._nerve = self.anatomy.model.class_names.index("nerve")
        self._needle_pool = ThreadPoolExecutor(1, thread_name_prefix="orstream-needle")

    def open(self) -> None:
        """One run of each model on a blank frame, so one-time costs never land on a live
        frame."""
        blank = np.zeros(self.anatomy.model.input_size, np.uint8)
        next(detect_needles(self.needle, [blank]))
        next(segment_images_by_class(self.anatomy, [blank], batch_size=1))

    def close(self) -> None:
        """Stop the needle model's thread (after the last frame)."""
        self._needle_pool.shutdown(wait=True)

    def __call__(self, frame: Frame) -> Frame:
        grey = to_grey(frame.pixels)
        spacing = frame.spacing_mm
        needle = self._needle_pool.submit(lambda: next(detect_needles(self.needle, [grey])))
        anatomy, by_class = next(segment_images_by_class(self.anatomy, [grey], batch_size=1))
        found = needle.result()
        x, y = found.tip
        mm = to_mm(x, y, spacing)
        tip = TipResult(
            found=found.found,
            x_px=x,
            y_px=y,
            x_mm=None if mm is None else mm[0],
            y_mm=None if mm is None else mm[1],
            confidence=found.confidence,
            source="heatmap",
        )
        to_nerve = None
        if found.found and spacing is not None:
            distance = nearest_distance_mm(anatomy == self._nerve, found.tip, spacing)
            to_nerve = None if np.isnan(distance) else distance
        frame.results["needle_mask"] = found.mask
        frame.results["anatomy_mask"] = anatomy
        frame.results["us"] = UltrasoundResult(
            needle=_areas(
                self.needle.model.name,
                self.needle.model.class_names,
                found.mask,
                spacing,
                found.confidence,
            ),
            needle_tip=tip,
            anatomy=_areas(
                self.anatomy.model.name,
                self.anatomy.model.class_names,
                anatomy,
                spacing,
                image_confidence(by_class),
                by_class=by_class,
            ),
            tip_to_nerve_mm=to_nerve,
            needle_plausibility=needle_plausibility(found.mask, found.tip if found.found else None),
        )
        return frame
