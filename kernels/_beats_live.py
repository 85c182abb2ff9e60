"""Live per-beat EF and heart rate from per-frame LV measurements of one or more streams.

:func:`window_beats` is the pure function: the beats of one window of frame measurements.
:class:`LiveBeatAccumulator` keeps each stream's last ``window_s`` seconds, says when a window
is due for a beat search (every ``every_s`` seconds by the injected ``clock``, one search per
stream at a time), and merges what a search found: a beat whose ED lies at a window's edge is
left for a later window; a beat seen again (its ED within ``same_beat_s`` of a kept one)
replaces it. Who runs the search (the caller's thread or a worker) is the caller's choice.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from ._cardiac import FrameMeasurement
from ._cycle import ClipMeasurement, summarize_clip

DISC_METHOD: Final = "single-plane method of discs (20 discs) on echo-lv LV cavity masks"
"""How volumes and EF are measured, live and offline (live adds its window length)."""

Window = Sequence[tuple[int, FrameMeasurement]]
"""(frame sequence number, its measurement) pairs of one stream, oldest first."""


@dataclass(frozen=True, slots=True)
class LiveBeat:
    """One beat of a stream or clip: ED and ES frame numbers (sequence numbers live, indices
    in a clip), ED time (s), volumes (ml), EF (fraction 0..1), quality flags (``("ok",)``
    when none)."""

    stream: str
    ed_frame: int
    es_frame: int
    ed_t_s: float
    edv_ml: float
    esv_ml: float
    ef: float
    quality: tuple[str, ...]

    @property
    def good(self) -> bool:
        return self.quality == ("ok",)

    def to_json(self) -> dict[str, Any]:
        def num(value: float, digits: int) -> float | None:
            return round(value, digits) if math.isfinite(value) else None

        return {
            "stream": self.stream,
            "ed_frame": self.ed_frame,
            "es_frame": self.es_frame,
            "ed_t_s": num(self.ed_t_s, 4),
            "edv_ml": num(self.edv_ml, 2),
            "esv_ml": num(self.esv_ml, 2),
            "ef": num(self.ef, 4),
            "quality": list(self.quality),
        }


def clip_beats(
    clip: ClipMeasurement, stream: str, frame_numbers: Sequence[int] | None = None
) -> list[LiveBeat]:
    """The beats of a measured clip as :class:`LiveBeat` records (``frame_numbers``: each
    frame's number, default its index; times from the frames' ``t_s``)."""
    numbers = range(len(clip.frames)) if frame_numbers is None else frame_numbers
    return [
        LiveBeat(
            stream=stream,
            ed_frame=numbers[beat.ed_index],
            es_frame=numbers[beat.es_index],
            ed_t_s=clip.frames[beat.ed_index].t_s,
            edv_ml=beat.edv_ml,
            esv_ml=beat.esv_ml,
            ef=beat.ef,
            quality=tuple(beat.flags) or ("ok",),
        )
        for beat in clip.beats
    ]


def window_beats(stream: str, window: Window) -> tuple[list[LiveBeat], float | None]:
    """The complete beats of one window and the heart rate (bpm, None when not found).

    The frames' own capture times (``FrameMeasurement.t_s``) give the frame rate; beats whose
    ED is at the window's edge, or whose EF is not finite, are left out. Too short or flat a
    window gives no beats.
    """
    if len(window) < 2:
        return [], None
    times = np.array([m.t_s for _, m in window])
    if times[-1] <= times[0]:
        return [], None
    fps = (len(times) - 1) / (times[-1] - times[0])
    try:
        clip = summarize_clip([m for _, m in window], fps)
    except ValueError:
        return [], None
    beats = [
        beat
        for beat in clip_beats(clip, stream, [seq for seq, _ in window])
        if math.isfinite(beat.ef) and "ed_at_edge" not in beat.quality
    ]
    return beats, clip.hr_bpm


def mean_ef(beats: Sequence[LiveBeat]) -> float | None:
    """Mean EF over the good beats (all beats when none is good); None without beats."""
    good = [b.ef for b in beats if b.good] or [b.ef for b in beats]
    return round(float(np.mean(good)), 4) if good else None


@dataclass
class _StreamWindow:
    frames: deque[tuple[int, FrameMeasurement]] = field(default_factory=deque)
    t_last: float = -math.inf
    searching: bool = False
    hr_bpm: float | None = None


@dataclass(frozen=True)
class LiveEchoSummary:
    """What the live beats add up to: every beat, mean EF (fraction), the latest heart rate
    (bpm), the same per stream, and the frames that could not be measured (no spacing)."""

    beats: tuple[LiveBeat, ...]
    ef: float | None
    heart_rate_bpm: float | None
    streams: dict[str, dict[str, Any]]
    frames_without_spacing: int
    window_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "beats": [b.to_json() for b in self.beats],
            "ef": self.ef,
            "heart_rate_bpm": self.heart_rate_bpm,
            "streams": self.streams,
            "frames_without_spacing": self.frames_without_spacing,
            "method": f"{DISC_METHOD}, {self.window_s:g} s windows",
        }


class LiveBeatAccumulator:
    """Per-stream windows of frame measurements and the beats found in them (thread-safe).

    ``window_s``: seconds of frames a search sees; ``every_s``: least time between two
    searches of one stream, on ``clock`` (s, monotonic); ``max_streams``: streams kept (the
    least recently seen goes beyond); ``min_frames``: frames a window needs to be searched.
    """

    def __init__(
        self,
        window_s: float = 8.0,
        every_s: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_streams: int = 64,
        same_beat_s: float = 0.2,
        min_frames: int = 11,
    ) -> None:
        self.window_s = window_s
        self.every_s = every_s
        self.same_beat_s = same_beat_s
        self.min_frames = min_frames
        self.no_spacing = 0
        self._clock = clock
        self._max_streams = max_streams
        self._streams: OrderedDict[str, _StreamWindow] = OrderedDict()
        self._beats: list[LiveBeat] = []
        self._hr_bpm: float | None = None
        self._lock = threading.Lock()

    def skip(self) -> None:
        """Count a frame that could not be measured (no pixel spacing)."""
        with self._lock:
            self.no_spacing += 1

    def add(self, stream: str, seq: int, measurement: FrameMeasurement) -> Window | None:
        """Add a frame; a copy of the stream's window when a search is due (the caller then
        calls :meth:`search` with it, in any thread), else None."""
        with self._lock:
            window = self._stream(stream)
            window.frames.append((seq, measurement))
            while window.frames and measurement.t_s - window.frames[0][1].t_s > self.window_s:
                window.frames.popleft()
            now = self._clock()
            due = (
                now - window.t_last >= self.every_s
                and not window.searching
                and len(window.frames) >= self.min_frames
            )
            if not due:
                return None
            window.t_last = now
            window.searching = True
            return list(window.frames)

    def search(self, stream: str, window: Window) -> None:
        """Find the beats of a due window and merge them into the kept beats."""
        try:
            beats, hr = window_beats(stream, window)
        finally:
            with self._lock:
                if stream in self._streams:
                    self._streams[stream].searching = False
        with self._lock:
            for beat in beats:
                self._beats = [
                    b
                    for b in self._beats
                    if b.stream != stream or abs(b.ed_t_s - beat.ed_t_s) > self.same_beat_s
                ]
                self._beats.append(beat)
            if hr is not None:
                self._hr_bpm = hr
                if stream in self._streams:
                    self._streams[stream].hr_bpm = hr

    def summary(self) -> LiveEchoSummary:
        """Every beat so far (by stream, then ED frame), mean EF and heart rate, per stream."""
        with self._lock:
            beats = tuple(sorted(self._beats, key=lambda b: (b.stream, b.ed_frame)))
            hr = self._hr_bpm
            hr_by_stream = {name: s.hr_bpm for name, s in self._streams.items()}
        per_stream = {
            name: {
                "beats": sum(b.stream == name for b in beats),
                "ef": mean_ef([b for b in beats if b.stream == name]),
                "heart_rate_bpm": None if stream_hr is None else round(stream_hr, 1),
            }
            for name, stream_hr in sorted(hr_by_stream.items())
        }
        return LiveEchoSummary(
            beats=beats,
            ef=mean_ef(beats),
            heart_rate_bpm=None if hr is None else round(hr, 1),
            streams=per_stream,
            frames_without_spacing=self.no_spacing,
            window_s=self.window_s,
        )

    def _stream(self, stream: str) -> _StreamWindow:
        window = self._streams.get(stream)
        if window is None:
            if len(self._streams) >= self._max_streams:
                self._streams.popitem(last=False)
            window = self._streams[stream] = _StreamWindow()
        else:
            self._streams.move_to_end(stream)
        return window
