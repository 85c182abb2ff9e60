"""orstream.kernels: see ARCHITECTURE.md for what this package owns.

Arrays in, arrays out: pre/post-processing with one code path for numpy, CuPy and torch
(``_prepost``), tip tracking (``_track``), LV measurements on masks (``_cardiac``) and the
cardiac cycle of a clip (``_cycle``). Imports nothing else of the project.
"""

from ._cardiac import (
    FrameMeasurement,
    LVLandmarks,
    lv_area_mm2,
    lv_landmarks,
    lv_volume_area_length_ml,
    lv_volume_discs_ml,
    mask_confidence,
    measure_frame,
)
from ._cycle import (
    BeatMeasurement,
    ClipMeasurement,
    CycleEvents,
    beats,
    detect_ed_es,
    dominant_period_frames,
    gaussian_smooth,
    measure_clip,
    summarize_clip,
)
from ._prepost import (
    SectorMap,
    argmax_labels,
    contours,
    crop,
    largest_component,
    max_probability,
    normalize,
    resize,
    scan_convert,
    softmax,
    subpixel_peak,
    threshold,
    to_numpy,
)
from ._track import TipTracker, TrackerConfig

__all__ = [
    "BeatMeasurement",
    "ClipMeasurement",
    "CycleEvents",
    "FrameMeasurement",
    "LVLandmarks",
    "SectorMap",
    "TipTracker",
    "TrackerConfig",
    "argmax_labels",
    "beats",
    "contours",
    "crop",
    "detect_ed_es",
    "dominant_period_frames",
    "gaussian_smooth",
    "largest_component",
    "lv_area_mm2",
    "lv_landmarks",
    "lv_volume_area_length_ml",
    "lv_volume_discs_ml",
    "mask_confidence",
    "max_probability",
    "measure_clip",
    "measure_frame",
    "normalize",
    "resize",
    "scan_convert",
    "softmax",
    "subpixel_peak",
    "summarize_clip",
    "threshold",
    "to_numpy",
]
