"""The pipeline runtime: source → stages → sinks, with a live path and a lossless recording path.

The live path keeps the newest frame of each stream (stale frames are dropped and counted),
so its latency never grows with run time. The recording path sees every frame the source
received, in order, before any live-path drop. Each stage appends its timestamp to the
frame's trace; :class:`PathStats` turns traces into p50/p99 latency, fps and drop counts.

A stage with a ``batch`` method (:class:`BatchStage`) is given every frame waiting at once
(on a live path: the newest frame of each stream), up to ``max_batch``, so that it can run
them together (one model call, or one call per core); other stages still see one frame at a
time, in order.

The runtime never names a transport: a source says itself whether it is ``live``; a live
source goes behind a :class:`LatestFrameSource`. Stages and sinks with an ``open()`` are
opened before the first frame, and stages with a ``close()`` closed after the run.

``workers`` > 1 (live path only) lets that many frames of *different* streams go through the
stages at once, each in its own thread: a stream has at most one frame in the stages, so
each stream's frames still reach its stages and sinks in order, and the newest-frame rule
applies while a stream's frame is in flight. The stages must then take calls from several
threads (never two of one stream at once); the sinks are still called one frame at a time.
Stages that release the GIL (ONNX Runtime, OpenCV, large numpy calls) then use more than
one core, where one frame at a time leaves the others idle between sparse batches.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

from ._drops import DropCounter
from ._frame import Frame
from ._latest import LatestFrameSource
from ._protocols import BatchStage, IterableSource, Sink, Source, Stage
from ._stats import PathStats

__all__ = ["BatchStage", "IterableSource", "Pipeline", "Sink", "Source", "Stage"]

_log = logging.getLogger("orstream.stream")


class Pipeline:
    """Runs ``stages`` then ``sinks`` on every frame of ``source``.

    ``live=True`` puts the source behind a :class:`LatestFrameSource`: the stages always get
    the newest frame of each stream. With ``live=False`` every frame is processed in order
    (offline files, lossless paths). ``live=None`` (the default) asks the source (its
    ``live`` attribute). ``recorder`` is the lossless recording path: it gets every received
    frame (on a live path in the receive thread, before the live path can drop it). A stage
    or sink that raises on a frame is counted as a drop of that frame and logged
    (rate-limited); the pipeline goes on.
    ``max_batch``: the most frames one pass of the stages takes when a stage has a ``batch``
    method (:class:`BatchStage`); the first frame is waited for, the others are those
    already waiting. Without such a stage every pass is one frame. ``workers``: frames of
    different streams in the stages at once (a live path only; each is a pass of one frame).
    """

    def __init__(
        self,
        source: Source,
        stages: Sequence[Stage] = (),
        sinks: Sequence[Sink] = (),
        *,
        recorder: Sink | None = None,
        live: bool | None = None,
        max_batch: int = 8,
        workers: int = 1,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1; got {max_batch}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1; got {workers}")
        if live is None:
            live = bool(source.live)
        if workers > 1 and not live:
            raise ValueError(
                f"workers > 1 needs a live source (newest frame per stream); "
                f"{type(source).__name__} is not live"
            )
        self.live = live
        self.workers = workers
        self.stages = list(stages)
        self.max_batch = max_batch if any(hasattr(s, "batch") for s in self.stages) else 1
        self.sinks = list(sinks)
        self.recorder = recorder
        self.live_stats = PathStats("live" if live else "process")
        self.record_stats: PathStats | None = None
        self._errors = DropCounter("pipeline")
        self.stop_event = threading.Event()
        self._record: Callable[[Frame], None] | None = None
        if recorder is not None:
            record_stats = self.record_stats = PathStats("record")

            def record(frame: Frame) -> None:
                recorder.write(frame)
                record_stats.record(frame)

            self._record = record
        self._latest: LatestFrameSource | None = None
        if live:  # started by run(), once the stages are open
            self.source: Source = LatestFrameSource(source, tap=self._record, start=False)
            self._latest = self.source
        else:
            self.source = source
        self._sink_lock = threading.Lock()
        self._busy: set[str] = set()  # streams with a frame at a worker
        self._slots = threading.Semaphore(workers)
        self._pool: ThreadPoolExecutor | None = None

    def process(self, frame: Frame) -> bool:
        """Run one frame through the stages and sinks; False if it was dropped on the way."""
        return self.process_batch([frame])[0]

    def process_batch(self, frames: Sequence[Frame]) -> list[bool]:
        """Run frames through the stages (batch stages see them together) and the sinks;
        one entry per frame: False if it was dropped on the way."""
        if self._record is not None and self._latest is None:
            for frame in frames:
                self._record(frame)
        alive: list[Frame | None] = list(frames)
        for stage in self.stages:
            waiting = [f for f in alive if f is not None]
            if not waiting:
                break
            results = iter(self._run_stage(stage, waiting))
            alive = [None if f is None else next(results) for f in alive]
        return [f is not None and self._finish(f) for f in alive]

    def _run_stage(self, stage: Stage, frames: list[Frame]) -> list[Frame | None]:
        """``stage`` on ``frames`` (together when it can batch them), stamped; None where a
        frame was dropped (counted)."""
        batch = getattr(stage, "batch", None)
        results: list[Frame | None] | None = None
        if batch is not None and len(frames) > 1:
            try:
                results = list(batch(frames))
            except Exception:  # find the bad frame: each alone below
                results = None
            if results is not None and len(results) != len(frames):
                _log.error(
                    "%s.batch returned %d frames for %d", stage.name, len(results), len(frames)
                )
                results = None
        if results is None:
            results = [self._call(stage, frame) for frame in frames]
        else:
            for result in results:
                if result is None:
                    self.live_stats.drop(f"filtered:{stage.name}")
        t_ns = time.time_ns()  # one time for a batch: its frames left the stage together
        return [None if r is None else r.stamp(stage.name, t_ns) for r in results]

    def _call(self, stage: Stage, frame: Frame) -> Frame | None:
        try:
            result = stage(frame)
        except Exception as exc:  # a bad frame must not stop the engine
            self._errors.drop(f"stage:{stage.name}", f"{type(exc).__name__}: {exc}")
            self.live_stats.drop(f"error:{stage.name}")
            return None
        if result is None:
            self.live_stats.drop(f"filtered:{stage.name}")
        return result

    def _finish(self, frame: Frame) -> bool:
        """Sinks and stats of a frame that went through every stage."""
        if not frame.intact():  # a shared-memory slot reused while the stages ran
            self.live_stats.drop("overwritten")
            return False
        with self._sink_lock:
            for sink in self.sinks:
                try:
                    sink.write(frame)
                except Exception as exc:
                    self._errors.drop(f"sink:{sink.name}", f"{type(exc).__name__}: {exc}")
                    self.live_stats.drop(f"error:{sink.name}")
        self.live_stats.record(frame)
        return True

    def _step(self, max_frames: int | None) -> bool:
        """Take the next frames (one pass, up to ``max_batch``) and run them; False once an
        exhausted source has no more."""
        frame = self.source.recv(timeout_s=0.05)
        if frame is None:
            return not getattr(self.source, "exhausted", False)
        frames = [frame]
        room = self.max_batch
        if max_frames is not None:
            room = min(room, max_frames - self.live_stats.frames)
        while len(frames) < room and (more := self.source.recv(timeout_s=0)) is not None:
            frames.append(more)
        self.process_batch(frames)
        return True

    def _dispatch(self, max_frames: int | None) -> bool:
        """Hand the newest frame of a stream no worker has to a free worker (``workers`` > 1)."""
        latest = self._latest
        if latest is None or (
            max_frames is not None and self.live_stats.frames + len(self._busy) >= max_frames
        ):
            time.sleep(0.01)
            return True
        if not self._slots.acquire(timeout=0.05):
            return True
        frame = latest.recv(timeout_s=0.05, skip=self._busy)
        if frame is None:
            self._slots.release()
            if latest.exhausted:  # a finite source ended: done once the workers are
                time.sleep(0.01)
                return bool(self._busy)
            return True
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="orstream-stage")
        self._busy.add(frame.stream_id)
        self._pool.submit(self._work, frame, latest)
        return True

    def _work(self, frame: Frame, latest: LatestFrameSource) -> None:
        try:
            self.process(frame)
        except Exception as exc:  # process() counts stage and sink errors itself
            self._errors.drop("worker", f"{type(exc).__name__}: {exc}")
        finally:
            self._busy.discard(frame.stream_id)
            self._slots.release()
            latest.wake()

    def run(
        self,
        *,
        duration_s: float | None = None,
        max_frames: int | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        status_every_s: float = 1.0,
    ) -> dict[str, Any]:
        """Open the stages, the recorder and the sinks that have an ``open()`` (in that order),
        then process frames until stopped (``stop_event``, ``duration_s`` counted from then,
        ``max_frames``, or an exhausted source); then close everything (the stages that have a
        ``close()`` last; one that raises is logged) and return the summary. An ``open()``
        that raises closes what was opened and the pipeline, and reaches the caller."""
        self._open_parts()
        t_end = None if duration_s is None else time.monotonic() + duration_s
        t_status = time.monotonic() + status_every_s
        step = self._dispatch if self.workers > 1 else self._step
        if self._latest is not None:
            # What is alive now (modules, models, sessions) lives as long as the engine; out
            # of the collector's sight it is not traversed again. A full collection had paused
            # the echo engine for 36 ms and dropped a frame of every stream; frozen, 10-s runs
            # of 4 to 6 streams saw no full collection and younger ones of at most 2 ms.
            gc.freeze()
            self._latest.start()
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if t_end is not None and now >= t_end:
                    break
                if on_status is not None and now >= t_status:
                    on_status(self.summary())
                    t_status = now + status_every_s
                if not step(max_frames):
                    break
                if max_frames is not None and self.live_stats.frames >= max_frames:
                    break
        finally:
            if self._pool is not None:  # the frames at the workers finish first
                self._pool.shutdown(wait=True)
                self._pool = None
            self.close()
            _close_each(self.stages)
            if self._latest is not None:
                gc.unfreeze()
        return self.summary()

    def _open_parts(self) -> None:
        """``open()`` each stage, then the recorder and each sink, that has one; when one
        raises, close the pipeline and the stages opened so far, then re-raise."""
        parts: list[Any] = [*self.stages, *self._all_sinks()]
        for i, part in enumerate(parts):
            opener = getattr(part, "open", None)
            if not callable(opener):
                continue
            try:
                opener()
            except BaseException:
                self.close()
                _close_each(self.stages[:i])
                raise

    def _all_sinks(self) -> list[Sink]:
        return [*([self.recorder] if self.recorder is not None else []), *self.sinks]

    def summary(self) -> dict[str, Any]:
        """``{"paths": {name: PathStats.summary()}, "source": source stats}``; drops of the
        live path include the stale frames the newest-frame rule discarded."""
        live = self.live_stats.summary()
        source_stats = self.source.stats()
        live["drops"] = {**live["drops"], "stale": source_stats.get("stale", 0)}
        paths = {self.live_stats.name: live}
        if self.record_stats is not None:
            paths["record"] = self.record_stats.summary()
        return {"paths": paths, "source": source_stats}

    def close(self) -> None:
        """Close the source first (no new frames), then the recorder (flushes), then sinks."""
        self.source.close()
        _close_each(self._all_sinks())


def _close_each(parts: Iterable[Any]) -> None:
    """``close()`` each part that has one; one that raises is logged and the others still run."""
    for part in parts:
        closer = getattr(part, "close", None)
        if not callable(closer):
            continue
        try:
            closer()
        except Exception as exc:
            _log.error("closing %s failed: %s", getattr(part, "name", type(part).__name__), exc)


def install_stop_signals(event: threading.Event) -> None:
    """Make SIGINT and SIGTERM set ``event`` (a clean stop) instead of raising; main thread."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        _log.info("received %s: stopping", signal.Signals(signum).name)
        event.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
