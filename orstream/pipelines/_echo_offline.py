"""Echo measurements of a whole clip (``orstream measure``): LV masks, volumes, beats, EF.

The :data:`ECHO_MODEL` segments the LV cavity in every frame, with a confidence in [0, 1] per
frame (``orstream.kernels.segment_images_scored``) and the anatomical plausibility checks'
verdict on its class-index mask (``orstream.kernels.lv_plausibility``: ``frames[].plausible``,
``frames[].implausible``); the kernels measure area, volume
(method of discs, 20 discs; area-length beside it), find ED and ES, and give per-beat EDV, ESV
and EF, their means over beats and the heart rate. :func:`echo_document` is the one JSON
document of a clip (beats in the same mapping as the live pipeline's).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..kernels import (
    DISC_METHOD,
    ClipMeasurement,
    clip_beats,
    load_backend,
    lv_plausibility,
    measure_frame,
    segment_images_scored,
    summarize_clip,
)
from ..stream import Cine

ECHO_MODEL: Final = "echo-lv-camus"
"""The model that segments the LV for ``measure`` and the live echo pipeline: the one more
accurate on real echo (CAMUS val, docs/models/echo-lv-camus.md). Its weights are CC BY-NC-SA
4.0 (trained on CAMUS): non-commercial research only; ``echo-lv`` is the Apache-2.0 one."""


def measure_echo_clip(
    cine: Cine, backend: str = "auto", model: str = ECHO_MODEL
) -> tuple[ClipMeasurement, list[npt.NDArray[np.uint8]]]:
    """Measurements of ``cine`` by ``model`` and its (H, W) uint8 LV masks (1 = cavity);
    ValueError for a clip without pixel spacing or frame rate, ImportError/RuntimeError for a
    backend that cannot run here."""
    if cine.spacing_mm is None:
        raise ValueError(f"{cine.source}: no pixel spacing in the file; give --spacing-mm")
    if not cine.fps:
        raise ValueError(f"{cine.source}: no frame rate in the file; give --fps")
    runner = load_backend(model, backend)
    labels = runner.model.class_names
    lv_class = labels.index("lv_cavity")
    masks: list[npt.NDArray[np.uint8]] = []
    frames = []
    for i, (mask, scores) in enumerate(segment_images_scored(runner, cine.frames, lv_class)):
        masks.append((mask == lv_class).astype(np.uint8))
        frames.append(
            measure_frame(
                masks[-1],
                cine.spacing_mm,
                index=i,
                t_s=i / cine.fps,
                confidence=scores["confidence"],
                plausibility=lv_plausibility(mask, labels),
            )
        )
    return summarize_clip(frames, cine.fps), masks


def echo_document(result: ClipMeasurement, cine: Cine, model: str = ECHO_MODEL) -> dict[str, Any]:
    """The clip's JSON: per-frame LV area and volume, beats, means, heart rate, provenance
    (``model``: the model that drew the LV masks)."""
    clip = result.to_json()
    return {
        "frames": [
            {
                "index": f["index"],
                "t_s": f["t_s"],
                "lv_area_mm2": f["area_mm2"],
                "lv_volume_ml": f["volume_discs_ml"],
                "confidence": f["confidence"],
                "quality": f["flags"] or ["ok"],
                "plausible": f["plausible"],
                "implausible": f["implausible"],
            }
            for f in clip["frames"]
        ],
        "beats": [beat.to_json() for beat in clip_beats(result, "clip")],
        "ef": clip["ef"],
        "heart_rate_bpm": clip["hr_bpm"],
        "method": DISC_METHOD,
        "model": model,
        "edv_ml": clip["edv_ml"],
        "esv_ml": clip["esv_ml"],
        "ef_area_length": clip["ef_area_length"],
        "fps": cine.fps,
        "spacing_mm": list(cine.spacing_mm) if cine.spacing_mm else None,
        "input": cine.source,
        "notes": list(cine.notes),
    }
