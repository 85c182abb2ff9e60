"""What the OR display holds: each stream's newest frame, and its last few seconds for feedback.

:meth:`DisplayHub.put` is called by the pipeline's thread (the display sink's ``write``): it
copies the pixels and masks (a received frame may view a buffer that is reused), stores the
frame as the stream's newest and in its short history, wakes the viewers' tracks on the
display's event loop, and returns; it never waits for a viewer. Tracks await
:meth:`DisplayHub.newest` on that loop: the newest frame they have not sent yet, never a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._display_telemetry import frame_telemetry, is_mask, video_pts
from ._frame import Frame

HISTORY_S: Final = 5.0
"""Seconds of frames kept per stream for clinician feedback (by capture time)."""
MAX_HISTORY_FRAMES: Final = 300
MAX_STREAMS: Final = 16
"""Streams the display holds; the least recently seen goes beyond."""


@dataclass(slots=True)
class HeldFrame:
    """A frame as the display keeps it: ``pixels`` and ``masks`` are the display's own copies,
    ``results`` the rest of ``frame.results`` (immutable result objects, not copied),
    ``t_out_ns`` when it left the pipeline (ns since the epoch), ``number`` its order of arrival
    at the display."""

    stream_id: str
    seq: int
    t_capture_ns: int
    t_out_ns: int
    modality: str
    spacing_mm: tuple[float, float] | None
    pixels: npt.NDArray[Any]
    masks: dict[str, npt.NDArray[Any]]
    results: dict[str, Any]
    trace: list[tuple[str, int]]
    number: int
    _telemetry: dict[str, Any] | None = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)

    @property
    def pts(self) -> int:
        return video_pts(self.t_capture_ns, self.seq)

    def telemetry(self) -> dict[str, Any]:
        """The frame's telemetry object (computed once; call it from the display's loop)."""
        if self._telemetry is None:
            height, width = self.pixels.shape[:2]
            header = {
                "type": "frame",
                "stream": self.stream_id,
                "seq": self.seq,
                "t_capture_ns": self.t_capture_ns,
                "t_out_ns": self.t_out_ns,
                "pts": self.pts % 2**32,
                "modality": self.modality,
                "size": [width, height],
                "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
                "trace_ms": [
                    [name, round((t - self.t_capture_ns) / 1e6, 3)] for name, t in self.trace
                ],
            }
            self._telemetry = frame_telemetry(header, {**self.results, **self.masks})
        return self._telemetry

    def telemetry_text(self) -> str:
        """:meth:`telemetry` as compact JSON text (computed once)."""
        if self._text is None:
            self._text = json.dumps(self.telemetry(), separators=(",", ":"), allow_nan=False)
        return self._text


def hold(frame: Frame, t_out_ns: int, number: int) -> HeldFrame:
    """A :class:`HeldFrame` of ``frame``, with its own copies of the pixels and masks."""
    masks = {k: np.array(v, copy=True) for k, v in frame.results.items() if is_mask(v)}
    rest = {
        k: v for k, v in frame.results.items() if k not in masks and not isinstance(v, np.ndarray)
    }
    return HeldFrame(
        stream_id=frame.stream_id,
        seq=frame.seq,
        t_capture_ns=frame.t_capture_ns,
        t_out_ns=t_out_ns,
        modality=str(frame.modality),
        spacing_mm=None if frame.spacing_mm is None else tuple(frame.spacing_mm),  # type: ignore[arg-type]
        pixels=np.array(frame.pixels, copy=True),
        masks=masks,
        results=rest,
        trace=list(frame.trace),
        number=number,
    )


class DisplayHub:
    """Newest frame and short history per stream, shared by the pipeline thread (``put``) and
    the display's event loop (``newest``, ``find``). ``history_s``: seconds kept per stream."""

    def __init__(self, history_s: float = HISTORY_S) -> None:
        self.history_s = history_s
        self.received = 0
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._streams: OrderedDict[str, deque[HeldFrame]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Condition | None = None
        self._wakers: set[asyncio.Future[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop, changed: asyncio.Condition) -> None:
        """Wake ``changed`` (on ``loop``) on each new frame; call it from that loop."""
        self._loop, self._changed = loop, changed

    def put(self, frame: Frame, t_out_ns: int) -> HeldFrame:
        """Keep ``frame`` as its stream's newest; wake the viewers. Thread-safe, never waits
        for a viewer."""
        held = hold(frame, t_out_ns, next(self._numbers))
        limit_ns = int(self.history_s * 1e9)
        with self._lock:
            history = self._streams.get(held.stream_id)
            if history is None:
                if len(self._streams) >= MAX_STREAMS:
                    self._streams.popitem(last=False)
                history = self._streams[held.stream_id] = deque(maxlen=MAX_HISTORY_FRAMES)
            else:
                self._streams.move_to_end(held.stream_id)
            history.append(held)
            while history and held.t_capture_ns - history[0].t_capture_ns > limit_ns:
                history.popleft()
            self.received += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody to wake
                loop.call_soon_threadsafe(self._wake)
        return held

    def _wake(self) -> None:
        changed = self._changed
        if changed is not None:
            task = asyncio.ensure_future(_notify(changed))
            self._wakers.add(task)
            task.add_done_callback(self._wakers.discard)

    def streams(self) -> list[str]:
        """Stream ids held, most recently seen last."""
        with self._lock:
            return list(self._streams)

    def latest(self, stream: str | None) -> HeldFrame | None:
        """The newest frame of ``stream`` (of the most recently seen stream when None)."""
        with self._lock:
            if stream is None:
                stream = next(reversed(self._streams), None)
            history = None if stream is None else self._streams.get(stream)
            return history[-1] if history else None

    def find(self, stream: str, seq: int) -> HeldFrame | None:
        """The held frame ``seq`` of ``stream`` (None when unknown or older than the history)."""
        with self._lock:
            for held in reversed(self._streams.get(stream, ())):
                if held.seq == seq:
                    return held
        return None

    async def newest(self, stream: str | None, after: int) -> HeldFrame:
        """The newest frame of ``stream`` that arrived after frame number ``after``; waits for
        one (on the loop :meth:`bind` named)."""
        changed = self._changed
        if changed is None:
            raise RuntimeError("DisplayHub.bind was not called")
        async with changed:
            while True:
                held = self.latest(stream)
                if held is not None and held.number > after:
                    return held
                await changed.wait()


async def _notify(changed: asyncio.Condition) -> None:
    async with changed:
        changed.notify_all()
