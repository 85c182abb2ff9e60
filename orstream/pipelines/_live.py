"""Live pipelines by modality, and the engine that runs one on any source into any sinks.

``make_pipeline("echo" | "fluoro" | "us")`` gives a modality's stages and how to sum them up;
:class:`Engine` opens the source and sinks by URI (``orstream.stream.open_source``), runs the
stages in the runtime (:class:`orstream.stream.Pipeline`) and returns a
:class:`PipelineSummary`. See docs/library.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..stream import Pipeline, RecordingSink, Sink, Source, Stage, open_sink, open_source
from ._echo_offline import ECHO_MODEL
from ._echo_stages import EchoMeasureStage, EchoSegmentStage, default_workers
from ._fluoro_stages import FluoroTrackStage, TipStats
from ._guidance_stage import RobotLink
from ._results import PipelineSummary
from ._us_stages import UltrasoundStage

PIPELINES: Final = ("echo", "fluoro", "us")
"""The live pipelines, by the modality they serve."""


@dataclass
class LivePipeline:
    """A modality's stages, in order, and ``measure(final)``: what they add up to so far
    (JSON-able; None for a pipeline without run-level measurements)."""

    name: str
    stages: list[Stage]
    measure: Callable[[bool], dict[str, Any] | None] = field(default=lambda _final: None)
    mask_models: dict[str, str] = field(default_factory=dict)
    """Mask result key to the model that made it (clinician feedback names the model)."""


def make_pipeline(name: str, backend: str = "auto") -> LivePipeline:
    """The live pipeline ``name`` ("echo", "fluoro", "us", or "none": no stages) on
    ``backend`` ("auto", "onnxruntime", "torch", "tensorrt"); ValueError for another name."""
    if name == "echo":
        measure = EchoMeasureStage()
        return LivePipeline(
            name,
            [EchoSegmentStage(backend), measure],
            lambda final: measure.summary(final).to_json(),
            {"lv_mask": ECHO_MODEL},
        )
    if name == "fluoro":
        stats = TipStats("tip", "tip_px")
        track = FluoroTrackStage(backend)
        return LivePipeline(
            name,
            [track, stats],
            lambda _f: stats.summary(),
            {"catheter_mask": track.backend.model.name},
        )
    if name == "us":
        stats = TipStats("us", "needle_tip_px")
        us = UltrasoundStage(backend)
        models = {"needle_mask": us.needle.model.name, "anatomy_mask": us.anatomy.model.name}
        return LivePipeline(name, [us, stats], lambda _f: stats.summary(), models)
    if name == "none":
        return LivePipeline(name, [])
    raise ValueError(f"unknown pipeline {name!r}: choose one of {', '.join(PIPELINES)} or none")


def _default_workers(name: str, live: bool) -> int:
    """The echo pipeline on a live source uses the usable cores (at most 4); others one."""
    return default_workers() if name == "echo" and live else 1


class Engine:
    """A live pipeline on a source, into sinks.

    ``source``: a URI (``zmq+tcp://``, ``file:``, ``dicom:``, ``png:``, ``sim:``...) or a
    :class:`~orstream.stream.Source`; ``pipeline``: a name for :func:`make_pipeline` or a
    :class:`LivePipeline`; ``results``: a path for per-frame results as JSON Lines;
    ``record``: a recording of every frame received (lossless); ``sinks``: more sinks (URIs or
    objects); ``workers``: frames of different streams in the stages at once (default: the
    cores for echo on a live source, else 1); ``robot``: a :class:`RobotLink` (guidance
    behind the safety gate on every frame, published on the robot feed); ``display``: the OR
    display at ``HOST:PORT`` (or a ``display://`` URI with options, see docs/display.md).
    """

    def __init__(
        self,
        source: str | Source,
        pipeline: str | LivePipeline = "none",
        *,
        backend: str = "auto",
        results: str | None = None,
        record: str | None = None,
        sinks: Sequence[str | Sink] = (),
        workers: int | None = None,
        robot: RobotLink | None = None,
        display: str | None = None,
    ) -> None:
        live_pipeline = (
            pipeline if isinstance(pipeline, LivePipeline) else make_pipeline(pipeline, backend)
        )
        if robot is not None:  # guidance behind the gate after the stages, its feed first
            live_pipeline.stages.append(robot.stage)
        opened = open_source(source) if isinstance(source, str) else source
        live = bool(getattr(opened, "live", False))
        if workers is None:
            workers = _default_workers(live_pipeline.name, live)
        elif workers > 1 and not live:
            opened.close()
            raise ValueError("workers above 1 need a live source (not a recording or file)")
        outs = [open_sink(s) if isinstance(s, str) else s for s in sinks]
        if display is not None:
            outs.append(open_sink(display if "://" in display else f"display://{display}"))
        for out in outs:  # the OR display names the model of a mask in clinician feedback
            if isinstance(getattr(out, "mask_models", None), dict):
                out.mask_models.update(live_pipeline.mask_models)  # type: ignore[attr-defined]
        if robot is not None:
            outs.insert(0, robot)
        if results is not None:
            outs.append(open_sink(f"jsonl:{results}"))
        self.pipeline = live_pipeline
        self.robot = robot
        self.source = opened
        self.runtime = Pipeline(
            opened,
            live_pipeline.stages,
            outs,
            recorder=None if record is None else RecordingSink(record),
            live=live,
            workers=workers,
        )

    @property
    def display_urls(self) -> list[str]:
        """The addresses (with the access token) of the OR displays among the sinks."""
        return [str(getattr(s, "url", "")) for s in self.runtime.sinks if s.name == "display"]

    @property
    def stop_event(self) -> Any:
        """Set it (from any thread or a signal handler) to stop :meth:`run` cleanly."""
        return self.runtime.stop_event

    def run(
        self,
        *,
        duration_s: float | None = None,
        max_frames: int | None = None,
        on_status: Callable[[PipelineSummary], None] | None = None,
        status_every_s: float = 1.0,
    ) -> PipelineSummary:
        """Run until stopped, ``duration_s`` passed, ``max_frames`` were processed, or the
        source is exhausted; then close the source, sinks and stages; the final summary."""
        status = None if on_status is None else (lambda raw: on_status(self._summary(raw, False)))
        raw = self.runtime.run(
            duration_s=duration_s,
            max_frames=max_frames,
            on_status=status,
            status_every_s=status_every_s,
        )
        return self._summary(raw, final=True)

    def summary(self) -> PipelineSummary:
        """The summary so far (safe while running)."""
        return self._summary(self.runtime.summary(), final=False)

    def _summary(self, raw: dict[str, Any], final: bool) -> PipelineSummary:
        return PipelineSummary(
            pipeline=self.pipeline.name,
            paths=raw["paths"],
            source=raw["source"],
            measurements=self.pipeline.measure(final),
            robot=None if self.robot is None else self.robot.stats(),
        )
