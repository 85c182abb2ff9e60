"""orstream.pipelines: the library face, one live pipeline per modality.

``Engine(source_uri, "echo" | "fluoro" | "us")`` runs a modality's stages on any source into
any sinks; the stages and typed results are public for composing pipelines of one's own. The
house and the path of one frame are drawn in docs/architecture.md; docs/library.md shows use.
"""

from ._clips import (
    InputFrame,
    InputReader,
    MaskSummary,
    load_clip,
    segment_input,
    track_clip,
)
from ._closed_loop import GUIDANCES, ClosedLoopRun, run_closed_loop
from ._demo import run_demo
from ._echo_beats import LiveBeatsResult
from ._echo_offline import ECHO_MODEL, echo_document, measure_echo_clip
from ._echo_stages import EchoMeasureStage, EchoSegmentStage, default_workers
from ._feedback_tune import FEEDBACK_AUGMENT, REPLAY_FRAMES, finetune_from_feedback
from ._fluoro_stages import FluoroTrackStage, TipStats
from ._guidance_stage import (
    DEFAULT_CONTROL_ENDPOINT,
    DEFAULT_ROBOT_ENDPOINT,
    GuidanceStage,
    RobotLink,
)
from ._live import PIPELINES, Engine, LivePipeline, make_pipeline
from ._report import ef_category, write_report
from ._results import (
    PipelineSummary,
    SegmentationResult,
    TipResult,
    UltrasoundResult,
    tip_result,
)
from ._sr import check_target, read_source, require_highdicom, write_sr
from ._us_stages import UltrasoundStage

__all__ = [
    "DEFAULT_CONTROL_ENDPOINT",
    "DEFAULT_ROBOT_ENDPOINT",
    "ECHO_MODEL",
    "FEEDBACK_AUGMENT",
    "GUIDANCES",
    "PIPELINES",
    "REPLAY_FRAMES",
    "ClosedLoopRun",
    "EchoMeasureStage",
    "EchoSegmentStage",
    "Engine",
    "FluoroTrackStage",
    "GuidanceStage",
    "InputFrame",
    "InputReader",
    "LiveBeatsResult",
    "LivePipeline",
    "MaskSummary",
    "PipelineSummary",
    "RobotLink",
    "SegmentationResult",
    "TipResult",
    "TipStats",
    "UltrasoundResult",
    "UltrasoundStage",
    "check_target",
    "default_workers",
    "echo_document",
    "ef_category",
    "finetune_from_feedback",
    "load_clip",
    "make_pipeline",
    "measure_echo_clip",
    "read_source",
    "require_highdicom",
    "run_closed_loop",
    "run_demo",
    "segment_input",
    "tip_result",
    "track_clip",
    "write_report",
    "write_sr",
]
