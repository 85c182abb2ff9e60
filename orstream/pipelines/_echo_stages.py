"""The live echo pipeline: LV segmentation (echo-lv) and live measurements on every frame.

``EchoSegmentStage`` puts the LV cavity mask in ``frame.results["lv_mask"]``;
``EchoMeasureStage`` measures the frame (``frame.results["lv"]``: LV area in mm2 and volume in
ml; ``frame.results["beats"]``: the stream's beats, EF and heart rate found so far, a
:class:`LiveBeatsResult`) and, once a second per stream, finds the beats in that stream's last
``window_s`` seconds in a worker thread, so the frame path never waits for it (the bookkeeping is
:class:`~orstream.kernels.LiveBeatAccumulator`).

Several streams: ``orstream run`` gives the pipeline ``workers`` (one per core), so frames
of different streams go through both stages at once, one thread each (ONNX Runtime releases
the GIL while it runs; the stages are safe for that, never two frames of one stream at once).
A pipeline with one worker instead hands ``EchoSegmentStage.batch`` the newest frame of every
stream waiting; with ONNX Runtime on the CPU a batch costs about as much per frame as one
frame alone (the model is small, one intra-op thread), so the batch is split across
``workers`` threads that share the session: one core per part. Other backends (TensorRT,
torch) take the batch in one model call.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..kernels import (
    LiveBeatAccumulator,
    LiveEchoSummary,
    Plausibility,
    load_backend,
    lv_plausibility,
    measure_frame,
    segment_images,
    segment_images_scored,
)
from ..stream import Frame
from ._echo_beats import BeatsBoard
from ._echo_offline import ECHO_MODEL

_MAX_WORKERS: Final = 4
_Found = tuple[npt.NDArray[np.uint8], float, Plausibility]
"""(LV mask, confidence, plausibility verdict) of one frame."""


def _publish(frame: Frame, found: _Found) -> None:
    mask, confidence, plausibility = found
    frame.results["lv_mask"] = mask
    frame.results["lv_confidence"] = confidence
    frame.results["lv_plausible"] = plausibility.ok
    frame.results["lv_implausible"] = list(plausibility.failed)
    frame.results["lv_checks"] = list(plausibility.checked)


def _plausibility(results: dict[str, Any]) -> Plausibility | None:
    if "lv_plausible" not in results:
        return None
    failed = tuple(results.get("lv_implausible", ()))
    return Plausibility(bool(results["lv_plausible"]), failed, tuple(results.get("lv_checks", ())))


def default_workers() -> int:
    """Segmentation threads for a batch: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(_MAX_WORKERS, cores))


class EchoSegmentStage:
    """LV cavity mask (uint8 (H, W), 1 = LV) of each frame, at the frame's size, in
    ``frame.results["lv_mask"]``, its confidence in [0, 1] in ``["lv_confidence"]``
    (``orstream.kernels.segment_images_scored``) and the anatomical plausibility checks'
    verdict on the class-index mask (``orstream.kernels.lv_plausibility``) in
    ``["lv_plausible"]`` (bool), ``["lv_implausible"]`` (the failed checks) and
    ``["lv_checks"]`` (the checks that ran), by ``model`` (default :data:`ECHO_MODEL`;
    ``"echo-lv"`` for the simulator-trained, Apache-2.0 weights).

    ``workers``: threads a batch of frames is split across on a CPU backend (default
    :func:`default_workers`; 1 runs a batch in the calling thread).
    """

    name = "echo-lv"

    def __init__(
        self, backend: str = "auto", workers: int | None = None, model: str = ECHO_MODEL
    ) -> None:
        self.backend = load_backend(model, backend)
        self._lv = self.backend.class_names.index("lv_cavity")
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1; got {self.workers}")
        self._pool: ThreadPoolExecutor | None = None
        blank = np.zeros(self.backend.input_size, np.uint8)  # one-time costs before a live frame
        next(segment_images(self.backend, [blank], batch_size=1))

    def __call__(self, frame: Frame) -> Frame:
        (found,) = self._lv_masks([frame.pixels])
        _publish(frame, found)
        return frame

    def batch(self, frames: Sequence[Frame]) -> list[Frame]:
        """:meth:`__call__` on several frames at once; every mask is computed before any
        frame is changed (an error leaves the frames as they were)."""
        masks = self._masks([frame.pixels for frame in frames])
        for frame, found in zip(frames, masks, strict=True):
            _publish(frame, found)
        return list(frames)

    def _masks(self, images: list[npt.NDArray[Any]]) -> list[_Found]:
        parts = min(self.workers, len(images)) if self.backend.name == "onnxruntime" else 1
        if parts <= 1:
            return self._lv_masks(images)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="orstream-seg")
        bounds = [round(k * len(images) / parts) for k in range(parts + 1)]
        chunks = [images[a:b] for a, b in itertools.pairwise(bounds)]
        return [mask for masks in self._pool.map(self._lv_masks, chunks) for mask in masks]

    def _lv_masks(self, images: list[npt.NDArray[Any]]) -> list[_Found]:
        scored = segment_images_scored(self.backend, images, self._lv, batch_size=len(images))
        labels = self.backend.class_names
        return [
            ((mask == self._lv).astype(np.uint8), s["confidence"], lv_plausibility(mask, labels))
            for mask, s in scored
        ]

    def close(self) -> None:
        """Stop the segmentation threads (a later batch starts them again)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class EchoMeasureStage:
    """Per-frame LV measurements (``frame.results["lv"]``, a :class:`FrameMeasurement`) and,
    from a sliding window per stream, per-beat EF and heart rate
    (:class:`~orstream.kernels.LiveBeatAccumulator`; each due beat search runs in a worker
    thread, so the frame path never waits for it). Safe to call from several threads on frames
    of different streams (a pipeline's ``workers``), not on two frames of one stream at once."""

    name = "measure"

    def __init__(self, window_s: float = 8.0, every_s: float = 1.0) -> None:
        self.beats = LiveBeatAccumulator(window_s, every_s)
        self.board = BeatsBoard(self.beats)
        self._searches: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __call__(self, frame: Frame) -> Frame:
        if frame.spacing_mm is None:
            self.beats.skip()
            frame.results["lv"] = None
            return frame
        t_s = frame.t_capture_ns / 1e9
        lv = measure_frame(
            frame.results["lv_mask"],
            frame.spacing_mm,
            index=frame.seq,
            t_s=t_s,
            confidence=frame.results.get("lv_confidence"),
            plausibility=_plausibility(frame.results),
        )
        frame.results["lv"] = lv
        window = self.beats.add(frame.stream_id, frame.seq, lv)
        frame.results["beats"] = self.board.get(frame.stream_id)
        if window is not None:
            search = threading.Thread(
                target=self._search, args=(frame.stream_id, window), daemon=True
            )
            with self._lock:
                self._searches = [t for t in self._searches if t.is_alive()]
                self._searches.append(search)
            search.start()
        return frame

    def _search(self, stream: str, window: Sequence[Any]) -> None:
        self.beats.search(stream, window)
        self.board.refresh(stream)

    def summary(self, final: bool = False) -> LiveEchoSummary:
        """The beats so far; ``final`` first waits for searches still running (never call it
        so from the frame path)."""
        if final:
            with self._lock:
                searches = list(self._searches)
            for search in searches:
                search.join(timeout=5.0)
        return self.beats.summary()
