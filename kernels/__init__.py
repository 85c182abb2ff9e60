"""orstream.kernels: what this package owns is in docs/architecture.md.

Arrays in, arrays out: pre/post-processing with one code path for numpy, CuPy and torch
(``_prepost``), tip tracking (``_track``) and ROI tracking with a tip-heatmap model
(``_roi_track``), LV measurements on masks (``_cardiac``) and the cardiac cycle of a clip
(``_cycle``), a segment's confidence from the model's probabilities and its AUROC
(``_confidence``), model backends behind one protocol (``_backends*``), the shipped models
(``_models``) and segmentation training: recipes and the shared network configuration
(``_train_recipe``), batching (``_batching``), augmentation (``_augment``), the loop
(``_train_seg``), export (``_train_export``), fit-export-score (``_train_fit``) and the
evaluation figures (``_train_eval``). Imports nothing else of the project.
"""

from ._arrays import match_library, to_cupy, to_numpy
from ._augment import (
    IntensityJitter,
    jitter_intensity,
    random_blur,
    random_noise,
    scanner_border,
    warp_pair,
)
from ._backends import (
    BACKENDS,
    PUBLIC_API,
    Backend,
    OnnxRuntimeBackend,
    available_backends,
    load_backend,
    select_backend,
    tensorrt_usable,
)
from ._backends_segment import (
    dice_scores,
    letterbox,
    mask_dice,
    segment,
    segment_images,
    segment_on_device,
    to_grey,
    to_model_input,
)
from ._backends_torch import build_network
from ._backends_trt import engine_path
from ._batching import batches, fixed_batches, prefetch
from ._beats_live import (
    DISC_METHOD,
    LiveBeat,
    LiveBeatAccumulator,
    LiveEchoSummary,
    clip_beats,
    mean_ef,
    window_beats,
)
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
from ._confidence import (
    CONFIDENCE_CUES,
    CONFIDENCE_METHOD,
    auroc,
    class_probabilities,
    confidence_cues,
    confidence_report,
    image_confidence,
    segment_images_by_class,
    segment_images_scored,
    shape_score,
    structure_confidence,
    tip_confidence_report,
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
from ._feedback import (
    FEEDBACK_FORMAT,
    FEEDBACK_VERSION,
    FeedbackError,
    FeedbackItem,
    FeedbackSet,
    feedback_pairs,
    mask_to_model_input,
    read_feedback,
)
from ._models import (
    MODELS_DIR,
    ModelSpec,
    available_models,
    load_model,
    sha256_file,
    write_sidecar,
)
from ._models import normalize as normalize_for_model
from ._needle import (
    DETECT_PROB,
    NeedleDetection,
    detect_needles,
    drop_specks,
    nearest_distance_mm,
)
from ._onnx_cpu import cpu_graph, scalar_prelu_as_leaky_relu
from ._plausibility import LV_CHECKS, Plausibility, lv_plausibility, lv_shape_figures
from ._plausibility_needle import NEEDLE_CHECKS, needle_plausibility, needle_shape_figures
from ._prepost import (
    argmax_labels,
    contours,
    crop,
    largest_component,
    max_probability,
    normalize,
    resize,
    softmax,
    subpixel_peak,
    threshold,
)
from ._resize_api import resize_array_api
from ._roi_track import RoiTipTracker, TipEstimate
from ._scan_convert import SectorMap, scan_convert, sector_lookup
from ._tip import (
    heatmap_target,
    image_to_input_px,
    input_to_image_px,
    tip_candidates,
    tip_from_heatmap,
)
from ._track import TipTracker, TrackerConfig
from ._train_eval import (
    eval_backend,
    eval_report_header,
    frames_per_second,
    segment_frames_per_second,
    summary_stats,
)
from ._train_export import export_onnx
from ._train_feedback import FeedbackTuneConfig, finetune_segmentation
from ._train_fit import fit_and_export
from ._train_progress import Progress
from ._train_recipe import SegRecipe, SegTask, TrainingData, TrainOptions, p99_normalization, unet
from ._train_seg import EpochRecord, SegTrainConfig, TrainResult, train_segmentation, warmup_cosine

__all__ = [
    "BACKENDS",
    "CONFIDENCE_CUES",
    "CONFIDENCE_METHOD",
    "DETECT_PROB",
    "DISC_METHOD",
    "FEEDBACK_FORMAT",
    "FEEDBACK_VERSION",
    "LV_CHECKS",
    "MODELS_DIR",
    "NEEDLE_CHECKS",
    "PUBLIC_API",
    "Backend",
    "BeatMeasurement",
    "ClipMeasurement",
    "CycleEvents",
    "EpochRecord",
    "FeedbackError",
    "FeedbackItem",
    "FeedbackSet",
    "FeedbackTuneConfig",
    "FrameMeasurement",
    "IntensityJitter",
    "LVLandmarks",
    "LiveBeat",
    "LiveBeatAccumulator",
    "LiveEchoSummary",
    "ModelSpec",
    "NeedleDetection",
    "OnnxRuntimeBackend",
    "Plausibility",
    "Progress",
    "RoiTipTracker",
    "SectorMap",
    "SegRecipe",
    "SegTask",
    "SegTrainConfig",
    "TipEstimate",
    "TipTracker",
    "TrackerConfig",
    "TrainOptions",
    "TrainResult",
    "TrainingData",
    "argmax_labels",
    "auroc",
    "available_backends",
    "available_models",
    "batches",
    "beats",
    "build_network",
    "class_probabilities",
    "clip_beats",
    "confidence_cues",
    "confidence_report",
    "contours",
    "cpu_graph",
    "crop",
    "detect_ed_es",
    "detect_needles",
    "dice_scores",
    "dominant_period_frames",
    "drop_specks",
    "engine_path",
    "eval_backend",
    "eval_report_header",
    "export_onnx",
    "feedback_pairs",
    "finetune_segmentation",
    "fit_and_export",
    "fixed_batches",
    "frames_per_second",
    "gaussian_smooth",
    "heatmap_target",
    "image_confidence",
    "image_to_input_px",
    "input_to_image_px",
    "jitter_intensity",
    "largest_component",
    "letterbox",
    "load_backend",
    "load_model",
    "lv_area_mm2",
    "lv_landmarks",
    "lv_plausibility",
    "lv_shape_figures",
    "lv_volume_area_length_ml",
    "lv_volume_discs_ml",
    "mask_confidence",
    "mask_dice",
    "mask_to_model_input",
    "match_library",
    "max_probability",
    "mean_ef",
    "measure_clip",
    "measure_frame",
    "nearest_distance_mm",
    "needle_plausibility",
    "needle_shape_figures",
    "normalize",
    "normalize_for_model",
    "p99_normalization",
    "prefetch",
    "random_blur",
    "random_noise",
    "read_feedback",
    "resize",
    "resize_array_api",
    "scalar_prelu_as_leaky_relu",
    "scan_convert",
    "scanner_border",
    "sector_lookup",
    "segment",
    "segment_frames_per_second",
    "segment_images",
    "segment_images_by_class",
    "segment_images_scored",
    "segment_on_device",
    "select_backend",
    "sha256_file",
    "shape_score",
    "softmax",
    "structure_confidence",
    "subpixel_peak",
    "summarize_clip",
    "summary_stats",
    "tensorrt_usable",
    "threshold",
    "tip_candidates",
    "tip_confidence_report",
    "tip_from_heatmap",
    "to_cupy",
    "to_grey",
    "to_model_input",
    "to_numpy",
    "train_segmentation",
    "unet",
    "warmup_cosine",
    "warp_pair",
    "window_beats",
    "write_sidecar",
]
