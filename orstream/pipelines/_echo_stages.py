"""The live echo pipeline: LV segmentation (echo-lv) and live measurements on every frame.

``EchoSegmentStage`` puts the LV cavity mask in ``frame.results["lv_mask"]``;
``EchoMeasureStage`` measures the frame (``frame.results["lv"]``: LV area in mm2 and volume in
ml) and, once a second per stream, finds the beats in that stream's last ``window_s`` seconds
in a worker thread, so the frame path never waits for it. A beat whose ED lies at a window's
edge is left for a later window; a beat seen again (its ED within ``_SAME_BEAT_S`` of a kept
one) replaces it.

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
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..kernels import FrameMeasurement, load_backend, measure_frame, segment_images, summarize_clip
from ..stream import Frame

_SAME_BEAT_S: Final = 0.2
"""Two EDs of one stream closer than this (s) are the same beat seen in two windows."""
_MAX_STREAMS: Final = 64
"""Streams whose measurement windows are kept; the least recently seen one goes beyond."""
_MAX_WORKERS: Final = 4


def default_workers() -> int:
    """Segmentation threads for a batch: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(_MAX_WORKERS, cores))


class EchoSegmentStage:
    """LV cavity mask (uint8 (H, W), 1 = LV) of each frame, at the frame's size.

    ``workers``: threads a batch of frames is split across on a CPU backend (default
    :func:`default_workers`; 1 runs a batch in the calling thread).
    """

    name = "echo-lv"

    def __init__(self, backend: str = "auto", workers: int | None = None) -> None:
        self.backend = load_backend("echo-lv", backend)
        self._lv = self.backend.class_names.index("lv_cavity")
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1; got {self.workers}")
        self._pool: ThreadPoolExecutor | None = None
        blank = np.zeros(self.backend.input_size, np.uint8)  # one-time costs before a live frame
        next(segment_images(self.backend, [blank], batch_size=1))

    def __call__(self, frame: Frame) -> Frame:
        mask = next(segment_images(self.backend, [frame.pixels], batch_size=1))
        frame.results["lv_mask"] = (mask == self._lv).astype(np.uint8)
        return frame

    def batch(self, frames: Sequence[Frame]) -> list[Frame]:
        """:meth:`__call__` on several frames at once; every mask is computed before any
        frame is changed (an error leaves the frames as they were)."""
        masks = self._masks([frame.pixels for frame in frames])
        for frame, mask in zip(frames, masks, strict=True):
            frame.results["lv_mask"] = mask
        return list(frames)

    def _masks(self, images: list[npt.NDArray[Any]]) -> list[npt.NDArray[np.uint8]]:
        parts = min(self.workers, len(images)) if self.backend.name == "onnxruntime" else 1
        if parts <= 1:
            return self._lv_masks(images)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="orstream-seg")
        bounds = [round(k * len(images) / parts) for k in range(parts + 1)]
        chunks = [images[a:b] for a, b in itertools.pairwise(bounds)]
        return [mask for masks in self._pool.map(self._lv_masks, chunks) for mask in masks]

    def _lv_masks(self, images: list[npt.NDArray[Any]]) -> list[npt.NDArray[np.uint8]]:
        return [
            (mask == self._lv).astype(np.uint8)
            for mask in segment_images(self.backend, images, batch_size=len(images))
        ]

    def close(self) -> None:
        """Stop the segmentation threads (a later batch starts them again)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@dataclass
class _StreamWindow:
    """One stream's last seconds of per-frame measurements and its beat search."""

    frames: deque[tuple[int, FrameMeasurement]] = field(default_factory=deque)
    t_last: float = 0.0
    worker: threading.Thread | None = None
    hr_bpm: float | None = None


class EchoMeasureStage:
    """Per-frame LV measurements and, from a sliding window per stream, per-beat EF and heart
    rate. Safe to call from several threads on frames of different streams (a pipeline's
    ``workers``), not on two frames of one stream at once."""

    name = "measure"

    def __init__(self, window_s: float = 8.0, every_s: float = 1.0) -> None:
        self.window_s = window_s
        self.every_s = every_s
        self.no_spacing = 0
        self._streams: OrderedDict[str, _StreamWindow] = OrderedDict()
        self._beats: list[dict[str, Any]] = []
        self._hr_bpm: float | None = None
        self._lock = threading.Lock()

    def __call__(self, frame: Frame) -> Frame:
        if frame.spacing_mm is None:
            with self._lock:
                self.no_spacing += 1
            frame.results["lv"] = None
            return frame
        t_s = frame.t_capture_ns / 1e9
        lv = measure_frame(frame.results["lv_mask"], frame.spacing_mm, index=frame.seq, t_s=t_s)
        frame.results["lv"] = lv
        stream = self._stream(frame.stream_id)
        window = stream.frames  # only the frame path touches the windows
        window.append((frame.seq, lv))
        while window and t_s - window[0][1].t_s > self.window_s:
            window.popleft()
        now = time.monotonic()
        busy = stream.worker is not None and stream.worker.is_alive()
        if now - stream.t_last >= self.every_s and not busy and len(window) > 10:
            stream.t_last = now
            stream.worker = threading.Thread(
                target=self._find_beats, args=(frame.stream_id, list(window)), daemon=True
            )
            stream.worker.start()
        return frame

    def _stream(self, stream_id: str) -> _StreamWindow:
        with self._lock:  # pipeline workers measure frames of several streams at once
            stream = self._streams.get(stream_id)
            if stream is None:
                if len(self._streams) >= _MAX_STREAMS:
                    self._streams.popitem(last=False)
                stream = self._streams[stream_id] = _StreamWindow()
            else:
                self._streams.move_to_end(stream_id)
            return stream

    def _find_beats(self, stream: str, window: list[tuple[int, FrameMeasurement]]) -> None:
        """Beats of one window (the frames' own capture times give the frame rate)."""
        times = np.array([m.t_s for _, m in window])
        fps = (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else 0.0
        if fps <= 0:
            return
        try:
            clip = summarize_clip([m for _, m in window], fps)
        except ValueError:
            return
        with self._lock:
            for beat in clip.beats:
                if not math.isfinite(beat.ef) or "ed_at_edge" in beat.flags:
                    continue
                ed_t = window[beat.ed_index][1].t_s
                self._beats = [
                    b
                    for b in self._beats
                    if b["stream"] != stream or abs(b["ed_t_s"] - ed_t) > _SAME_BEAT_S
                ]
                self._beats.append(
                    {
                        "stream": stream,
                        "ed_frame": window[beat.ed_index][0],
                        "es_frame": window[beat.es_index][0],
                        "ed_t_s": ed_t,
                        "edv_ml": round(beat.edv_ml, 2),
                        "esv_ml": round(beat.esv_ml, 2),
                        "ef": round(beat.ef, 4),
                        "quality": list(beat.flags) or ["ok"],
                    }
                )
            if clip.hr_bpm is not None:
                self._hr_bpm = clip.hr_bpm
                if stream in self._streams:
                    self._streams[stream].hr_bpm = clip.hr_bpm

    def summary(self, final: bool = False) -> dict[str, Any]:
        """``{"beats": [...], "ef": mean over good beats, "heart_rate_bpm", "streams", ...}``:
        ``ef`` over every stream's beats and ``heart_rate_bpm`` the latest found (one stream:
        that stream's); ``streams`` has each stream's own. ``final`` waits for windows still
        being measured (never from the frame path)."""
        if final:
            for stream in list(self._streams.values()):
                if stream.worker is not None:
                    stream.worker.join(timeout=5.0)
        with self._lock:
            beats = sorted(self._beats, key=lambda b: (b["stream"], b["ed_frame"]))
            hr = self._hr_bpm
            hr_by_stream = {name: s.hr_bpm for name, s in self._streams.items()}
        per_stream = {
            name: {
                "beats": sum(b["stream"] == name for b in beats),
                "ef": _mean_ef([b for b in beats if b["stream"] == name]),
                "heart_rate_bpm": None if stream_hr is None else round(stream_hr, 1),
            }
            for name, stream_hr in sorted(hr_by_stream.items())
        }
        return {
            "beats": beats,
            "ef": _mean_ef(beats),
            "heart_rate_bpm": None if hr is None else round(hr, 1),
            "streams": per_stream,
            "frames_without_spacing": self.no_spacing,
            "method": "single-plane method of discs (20 discs) on echo-lv masks, 8 s windows",
        }


def _mean_ef(beats: list[dict[str, Any]]) -> float | None:
    """Mean EF over the good beats (all beats when none is good); None without beats."""
    good = [b["ef"] for b in beats if b["quality"] == ["ok"]] or [b["ef"] for b in beats]
    return round(float(np.mean(good)), 4) if good else None
