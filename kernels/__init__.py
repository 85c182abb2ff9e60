"""orstream.kernels: see ARCHITECTURE.md for what this package owns.

Arrays in, arrays out: pre/post-processing with one code path for numpy, CuPy and torch
(``_prepost``), tip tracking (``_track``) and ROI tracking with a tip-heatmap model
(``_roi_track``), LV measurements on masks (``_cardiac``) and the cardiac cycle of a clip
(``_cycle``), model backends behind one protocol (``_backends*``), the shipped models
(``_models``) and segmentation training (``_train_seg``). Imports nothing else of the project.
"""

from ._backends import (
    BACKENDS,
    Backend,
    OnnxRuntimeBackend,
    available_backends,
    load_backend,
)
from ._backends_segment import dice_scores, segment, segment_images, segment_on_device, to_grey
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
from ._models import ModelSpec, available_models, load_model
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
from ._roi_track import RoiTipTracker, TipEstimate
from ._tip import tip_candidates, tip_from_heatmap
from ._track import TipTracker, TrackerConfig

__all__ = [
    "BACKENDS",
    "Backend",
    "BeatMeasurement",
    "ClipMeasurement",
    "CycleEvents",
    "FrameMeasurement",
    "LVLandmarks",
    "ModelSpec",
    "OnnxRuntimeBackend",
    "RoiTipTracker",
    "SectorMap",
    "TipEstimate",
    "TipTracker",
    "TrackerConfig",
    "argmax_labels",
    "available_backends",
    "available_models",
    "beats",
    "contours",
    "crop",
    "detect_ed_es",
    "dice_scores",
    "dominant_period_frames",
    "gaussian_smooth",
    "largest_component",
    "load_backend",
    "load_model",
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
    "segment",
    "segment_images",
    "segment_on_device",
    "softmax",
    "subpixel_peak",
    "summarize_clip",
    "threshold",
    "tip_candidates",
    "tip_from_heatmap",
    "to_grey",
    "to_numpy",
]
