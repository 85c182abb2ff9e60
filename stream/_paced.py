"""Pacing: an in-memory sequence of images played as a live stream at a frame rate.

Frame k is due one period after frame k-1 on the monotonic clock and is emitted (stamped
``t_capture_ns`` = the wall-clock time it leaves) when its time has come, never before. A
consumer that falls behind by more than a tenth of a period makes the schedule move on from
the late frame rather than catch up in a burst (:class:`FramePacer`), so consecutive capture
times are never closer than 0.9 periods and the rate never exceeds the frame rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from ._frame import Frame, Geometry, Modality, make_frame
from ._pacing import FramePacer


class PacedSource:
    """A live source that plays ``images`` at ``fps`` frames/s, one frame per period.

    ``images``: a sequence of arrays (each (H, W) or (H, W, C), any dtype), given as they are
    (views, no copy). ``stream_id``, ``modality``, ``spacing_mm`` ((row, col) in mm or None)
    and ``geometry`` go into every frame's header; ``meta["clip_frame"]`` is the frame's index
    in ``images``. The clock starts at the first :meth:`recv`. Without ``loop`` the source is
    ``exhausted`` after the last image (``recv`` then returns None); with it, it plays them
    again forever, sequence numbers going on. Frames emitted more than a tenth of a period
    after their time are counted in ``late``. ``recv`` from one thread; ``close`` from any.
    """

    live = True

    def __init__(
        self,
        images: Sequence[npt.NDArray[Any]],
        fps: float,
        *,
        stream_id: str = "0",
        modality: Modality | str = Modality.OTHER,
        spacing_mm: tuple[float, float] | None = None,
        geometry: Geometry | None = None,
        loop: bool = False,
    ) -> None:
        if len(images) == 0:
            raise ValueError("a paced source needs at least one image")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a finite number > 0; got {fps}")
        self.images = images
        self.fps = float(fps)
        self.period_ns = round(1e9 / fps)
        self.stream_id = stream_id
        self.modality = Modality(modality)
        self.spacing_mm = spacing_mm
        self.geometry = geometry if geometry is not None else Geometry()
        self.loop = loop
        self.emitted = 0
        self.exhausted = False
        self._pacer = FramePacer.every(self.period_ns)

    @property
    def late(self) -> int:
        """Frames emitted more than a tenth of a period after their time."""
        return self._pacer.late

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame once its time has come; None when it is not due within ``timeout_s``
        seconds (None: wait for it), after the last frame (``exhausted``) or once closed."""
        if self.exhausted or self._pacer.closed:
            return None
        if not self.loop and self.emitted >= len(self.images):
            self.exhausted = True
            return None
        if not self._pacer.wait(self.emitted, timeout_s):
            return None
        index = self.emitted % len(self.images)
        t_ns = time.time_ns()
        frame = make_frame(
            self.images[index],
            self.stream_id,
            self.emitted,
            t_capture_ns=t_ns,
            modality=self.modality,
            spacing_mm=self.spacing_mm,
            geometry=self.geometry,
            meta={"clip_frame": index},
        )
        self.emitted += 1
        return frame.stamp("recv", t_ns)

    def stats(self) -> dict[str, Any]:
        return {"received": self.emitted, "late": self.late, "fps": self.fps}

    def close(self) -> None:
        """Stop: a waiting :meth:`recv` returns None at once; idempotent."""
        self._pacer.close()
        self.exhausted = True
