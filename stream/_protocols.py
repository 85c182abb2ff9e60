"""The seams of the runtime: the ``Source``, ``Stage``, ``BatchStage`` and ``Sink`` protocols,
and :class:`IterableSource`, the simplest source that fits them (frames already in memory).

A source is *live* when its frames come on their own clock (a device, a socket, a clip played
at its frame rate): the pipeline then keeps only the newest frame of each stream. A source
that is not live (a recording, a list) gives every frame when pulled, as fast as pulled.

Stages and sinks may also have ``open()`` (called by ``Pipeline.run`` before the first frame:
load a model, open a file) and ``close()`` (a stage's after the run; sinks are closed by
``Pipeline.close``). Both are optional and take no arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from ._frame import Frame


class Source(Protocol):
    """Where frames come from; ``recv`` returns None when nothing arrived within the timeout
    (seconds; None waits). A finite source sets an ``exhausted`` attribute True at its end."""

    @property
    def live(self) -> bool:
        """True when frames come on their own clock (newest frame wins downstream)."""
        ...

    def recv(self, timeout_s: float | None = None) -> Frame | None: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class Stage(Protocol):
    """One processing step. Returns the frame to pass on, or None to stop this frame here."""

    name: str

    def __call__(self, frame: Frame) -> Frame | None: ...


class BatchStage(Stage, Protocol):
    """A stage that can also process several frames in one call.

    ``batch(frames)`` returns one entry per frame, in order: the frame to pass on, or None to
    stop that frame here. It must either succeed for every frame or change nothing: when it
    raises, the pipeline calls the stage on each frame alone, so that only a bad frame drops.
    """

    def batch(self, frames: Sequence[Frame]) -> Sequence[Frame | None]: ...


class Sink(Protocol):
    """Where frames leave the pipeline (display, robot feed, recorder, measurements);
    ``close`` is idempotent."""

    name: str

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


class IterableSource:
    """A source over frames already in memory (tests, files); ends when the iterable ends.

    Not live: every frame is given, in order, as fast as it is pulled."""

    live = False

    def __init__(self, frames: Iterable[Frame]) -> None:
        self._frames: Iterator[Frame] = iter(frames)
        self.received = 0
        self.exhausted = False

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame, or None once the frames are exhausted (``timeout_s`` is unused)."""
        frame = None if self.exhausted else next(self._frames, None)
        if frame is None:
            self.exhausted = True
            return None
        self.received += 1
        return frame.stamp("recv")

    def stats(self) -> dict[str, Any]:
        return {"received": self.received}

    def close(self) -> None:
        self.exhausted = True
