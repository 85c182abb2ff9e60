"""The OR display's video track: each viewer pulls the newest frame, never a queue.

:class:`NewestFrameTrack` is an aiortc ``MediaStreamTrack`` whose ``recv()`` awaits the newest
frame of its stream the viewer has not had yet (:meth:`DisplayHub.newest`); frames that
arrived while the encoder was busy are skipped (counted), so delay never builds up and a slow
viewer slows only itself. Each frame it hands the encoder has its telemetry sent on the
viewer's data channel first (``on_frame``). :func:`to_video_frame` makes any uint8/uint16 grey
or RGB frame a yuv420p ``av.VideoFrame`` (odd sizes padded by one) with ``pts`` in 90 kHz ticks.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any, Final

import av
import cv2
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack

from ._display_hub import DisplayHub, HeldFrame
from ._display_telemetry import VIDEO_CLOCK_HZ, to_grey_or_rgb8

TIME_BASE: Final = Fraction(1, VIDEO_CLOCK_HZ)


def to_video_frame(pixels: npt.NDArray[Any], pts: int, max_px: int | None = None) -> av.VideoFrame:
    """A yuv420p video frame of ``pixels`` (grey or RGB, see :func:`to_grey_or_rgb8`), scaled
    down (area average) so that neither side exceeds ``max_px`` when given, padded by one
    row/column (edge copied) where the size is odd, with ``pts`` (90 kHz ticks)."""
    image = to_grey_or_rgb8(pixels)
    height, width = image.shape[:2]
    if max_px is not None and max(height, width) > max_px:
        scale = max_px / max(height, width)
        size = (max(2, round(width * scale)), max(2, round(height * scale)))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        height, width = image.shape[:2]
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        image = np.asarray(
            cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE), np.uint8
        )
        height, width = height + pad_h, width + pad_w
    if image.ndim == 2:  # Y is the grey level; chroma is neutral
        planes = np.empty((height * 3 // 2, width), np.uint8)
        planes[:height] = image
        planes[height:] = 128
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    else:
        frame = av.VideoFrame.from_ndarray(
            np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), np.uint8), format="yuv420p"
        )
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


class NewestFrameTrack(MediaStreamTrack):
    """Video of one stream of ``hub`` for one viewer (``stream`` None: the stream seen last).

    ``on_frame(held)`` is called with each frame just before it is encoded (send its
    telemetry); ``max_px``: the video's largest side (larger frames are scaled down; overlays
    stay in frame pixels). ``sent``: frames handed to the encoder; ``skipped``: frames of the
    stream that arrived while this viewer was busy and were never sent to it.
    """

    kind = "video"

    def __init__(
        self,
        hub: DisplayHub,
        stream: str | None,
        on_frame: Callable[[HeldFrame], None] | None = None,
        max_px: int | None = None,
    ) -> None:
        super().__init__()
        self.max_px = max_px
        self.hub = hub
        self.stream = stream
        self.on_frame = on_frame
        self.sent = 0
        self.skipped = 0
        self.bad = 0
        self._last = 0
        self._last_seq: int | None = None

    async def recv(self) -> av.VideoFrame:
        while True:
            held = await self.hub.newest(self.stream, self._last)
            self._last = held.number
            self.stream = held.stream_id  # None follows the first stream it gets
            if self._last_seq is not None and held.seq > self._last_seq + 1:
                self.skipped += held.seq - self._last_seq - 1
            self._last_seq = held.seq
            try:  # each viewer its own frame: encoders change theirs (time base, key frame)
                frame = to_video_frame(held.pixels, held.pts, self.max_px)
            except ValueError:  # pixels no video can carry: count, go on with the next
                self.bad += 1
                continue
            if self.on_frame is not None:
                self.on_frame(held)
            self.sent += 1
            return frame

    def stats(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "bad": self.bad}
