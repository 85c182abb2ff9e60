"""A PLUS sequence file played live: the ``plus:PATH.igs.mha`` source.

Frames leave at their recorded timestamps (frame k is due ``Timestamp_k - Timestamp_0``
seconds after the first), or one period apart with ``fps``; a consumer that falls behind makes
the schedule move on rather than burst. Each frame carries ``meta["transforms"]`` (name ->
4x4 nested list, e.g. ``ProbeToTracker``; only those whose status is OK),
``meta["transform_status"]``, ``meta["plus_timestamp_s"]`` (the recorded time, s),
``meta["clip_frame"]`` and ``meta["us_orientation"]`` (``UltrasoundImageOrientation``).

Options (query keys): ``stream`` (default the file name without ``.igs.mha``), ``modality``
(``us`` by default), ``fps`` (frames/s, instead of the timestamps), ``loop`` (``1``: play
forever; the period between the last and first frame is the mean period; a single-frame file
needs ``fps`` to loop).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

from ._frame import Frame, Geometry, Modality, make_frame
from ._pacing import FramePacer
from ._plus_mha import PlusSequence, read_plus_sequence
from ._registry import ResourceUri, register_source
from ._wire import MAX_STREAM_ID_CHARS

SLACK_S: Final = 0.005
"""Lateness (s) after which the schedule moves on from a late frame instead of catching up."""
_KEYS: Final = frozenset({"stream", "modality", "fps", "loop"})


def _offsets_ns(sequence: PlusSequence, fps: float | None) -> list[int]:
    """Each frame's due time (ns) after the first's: from timestamps (never decreasing), or
    one period apart."""
    stamps = sequence.timestamps_s()
    count = len(sequence.fields)
    if fps is not None or stamps is None:
        if fps is None:
            raise ValueError("frames without timestamps: give a frame rate (?fps=F)")
        return [round(k * 1e9 / fps) for k in range(count)]
    offsets, last = [], 0
    for t in stamps:
        last = max(last, round((t - stamps[0]) * 1e9))
        offsets.append(last)
    return offsets


class PlusSource:
    """A :class:`PlusSequence` played as a live stream at its recorded timing (``fps``
    overrides it); ``loop`` plays it again forever. ``recv`` from one thread; ``close`` from
    any. ``sequence`` keeps what was read."""

    live = True

    def __init__(
        self,
        sequence: PlusSequence,
        *,
        stream_id: str,
        modality: Modality | str = Modality.US,
        fps: float | None = None,
        loop: bool = False,
    ) -> None:
        self.sequence = sequence
        self.offsets_ns = _offsets_ns(sequence, fps)
        count = len(self.offsets_ns)
        if loop and count == 1 and fps is None:
            raise ValueError("a single frame has no period to loop at: give ?fps=F")
        period = round(1e9 / fps) if fps is not None else None
        if period is None and count > 1:
            period = self.offsets_ns[-1] // (count - 1) or 1
        self.cycle_ns = self.offsets_ns[-1] + (period or 0)
        self.stream_id = stream_id
        self.modality = Modality(modality)
        self.loop = loop
        self.emitted = 0
        self.exhausted = False
        # A single frame played once has no cycle: any positive one stands in for it.
        cycle = self.cycle_ns or 1
        self._pacer = FramePacer(self.offsets_ns, cycle, slack_ns=round(SLACK_S * 1e9))

    @property
    def late(self) -> int:
        """Frames emitted more than :data:`SLACK_S` after their time."""
        return self._pacer.late

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame once its time has come; None when not due within ``timeout_s``
        seconds, after the last frame (``exhausted``) or once closed."""
        if self.exhausted or self._pacer.closed:
            return None
        if not self.loop and self.emitted >= len(self.offsets_ns):
            self.exhausted = True
            return None
        if not self._pacer.wait(self.emitted, timeout_s):
            return None
        return self._emit()

    def _emit(self) -> Frame:
        index = self.emitted % len(self.offsets_ns)
        fields = self.sequence.fields[index]
        t_ns = time.time_ns()
        frame = make_frame(
            self.sequence.frames[index],
            self.stream_id,
            self.emitted,
            t_capture_ns=t_ns,
            modality=self.modality,
            spacing_mm=self.sequence.spacing_mm,
            geometry=Geometry(),
            meta={
                "clip_frame": index,
                "transforms": fields.transforms,
                "transform_status": fields.transform_status,
                "plus_timestamp_s": fields.timestamp_s,
                "us_orientation": self.sequence.orientation,
            },
        )
        self.emitted += 1
        return frame.stamp("recv", t_ns)

    def stats(self) -> dict[str, Any]:
        return {"received": self.emitted, "late": self.late}

    def close(self) -> None:
        """Stop: a waiting :meth:`recv` returns None at once; idempotent."""
        self._pacer.close()
        self.exhausted = True


def open_plus(uri: ResourceUri) -> PlusSource:
    """``plus:PATH.igs.mha[?stream=ID&modality=M&fps=F&loop=1]``."""
    uri.check_keys(_KEYS)
    if not uri.target:
        raise ValueError(f"{uri.text!r}: no path; expected plus:PATH.igs.mha")
    path = Path(uri.target)
    stem = path.name.split(".", 1)[0]
    stream_id = uri.query.get("stream", stem)
    if not 0 < len(stream_id) <= MAX_STREAM_ID_CHARS:
        raise ValueError(f"{uri.text!r}: stream must be 1-{MAX_STREAM_ID_CHARS} characters")
    modality = uri.query.get("modality", Modality.US.value)
    if modality not in {m.value for m in Modality}:
        raise ValueError(f"{uri.text!r}: modality must be one of {[m.value for m in Modality]}")
    fps: float | None = uri.number("fps")
    loop = uri.flag("loop")
    sequence = read_plus_sequence(path)
    try:
        return PlusSource(sequence, stream_id=stream_id, modality=modality, fps=fps, loop=loop)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None


register_source("plus", open_plus)
