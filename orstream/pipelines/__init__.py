"""orstream.pipelines: the library face, one live pipeline per modality.

``Engine(source_uri, "echo" | "fluoro" | "us")`` runs a modality's stages on any source into
any sinks; the stages and typed results are public for composing pipelines of one's own. The
house and the path of one frame are drawn in docs/architecture.md; docs/library.md shows use.
"""

from ._clips import load_clip
from ._demo import run_demo
from ._echo_stages import EchoMeasureStage, EchoSegmentStage, default_workers
from ._fluoro_stages import FluoroTrackStage, TipStats
from ._live import PIPELINES, Engine, LivePipeline, make_pipeline
from ._results import (
    PipelineSummary,
    SegmentationResult,
    TipResult,
    UltrasoundResult,
)
from ._us_stages import UltrasoundStage

__all__ = [
    "PIPELINES",
    "EchoMeasureStage",
    "EchoSegmentStage",
    "Engine",
    "FluoroTrackStage",
    "LivePipeline",
    "PipelineSummary",
    "SegmentationResult",
    "TipResult",
    "TipStats",
    "UltrasoundResult",
    "UltrasoundStage",
    "default_workers",
    "load_clip",
    "make_pipeline",
    "run_demo",
]
