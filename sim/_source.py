"""The simulator as an in-process live source: ``sim:MODALITY?seed=..&fps=..`` URIs.

``sim:echo?seed=1&ef=0.55&hr=72&fps=50``, ``sim:fluoro?fps=15``, ``sim:us?seed=3``: a simulated
device rendering frames at its frame rate, as a live feed would deliver them (the capture time
is when a frame is due and delivered, its rendering happens before). Query keys: ``seed``,
``fps``, ``ef`` and ``hr`` (echo), ``frames`` (stop after N; default: endless), ``stream``
(stream id, default ``sim-MODALITY``). Each frame's ground truth rides in
``frame.meta["truth"]``; the run's truth is :meth:`SimSource.describe`.
"""

from __future__ import annotations

import time
from typing import Any

from ..stream import (
    Frame,
    FramePacer,
    Geometry,
    GeometryKind,
    Modality,
    ResourceUri,
    register_source,
)
from ._protocol import SimFrame, Simulator
from ._registry import make_simulator

_KEYS = frozenset({"seed", "fps", "ef", "hr", "frames", "stream"})


def sim_frame_to_frame(
    sim: Simulator,
    rendered: SimFrame,
    stream_id: str,
    t_capture_ns: int,
    *,
    with_truth: bool = False,
) -> Frame:
    """The wire frame of a rendered simulator frame (pixels not copied); ``with_truth`` puts
    the frame's ground truth in ``meta["truth"]``."""
    geometry = dict(sim.geometry)
    kind = GeometryKind(geometry.pop("kind", "unknown"))
    return Frame(
        pixels=rendered.image,
        stream_id=stream_id,
        seq=rendered.index,
        t_capture_ns=t_capture_ns,
        modality=Modality(sim.modality),
        spacing_mm=sim.spacing_mm,
        geometry=Geometry(kind, geometry),
        meta={"truth": rendered.truth} if with_truth else {},
    )


class SimSource:
    """Frames of ``sim`` paced at its frame rate; ``frames``: stop after that many (None:
    endless). ``recv`` waits at most ``timeout_s`` for the next frame to fall due. A frame
    delivered more than a period late (rendering or the consumer could not keep the frame
    rate) counts in ``late`` and the schedule moves on from it (:class:`FramePacer`): no burst
    to catch up. Frames are rendered ahead of their time, except for a simulator whose
    ``render_when_due`` is True (what it shows changes until then: a robot-driven catheter),
    rendered once due; every frame is stamped when delivered (a detector's frame when read
    out), so a frame rendered when due shows the scene the rendering time before its stamp."""

    live = True

    def __init__(
        self, sim: Simulator, *, frames: int | None = None, stream_id: str | None = None
    ) -> None:
        if frames is not None and frames < 1:
            raise ValueError(f"frames must be at least 1; got {frames}")
        self.sim = sim
        self.frames = frames
        self.stream_id = stream_id or f"sim-{sim.modality}"
        self.exhausted = False
        self.received = 0
        period_ns = round(1e9 / sim.fps)
        self._pacer = FramePacer.every(period_ns, slack_ns=period_ns)
        self._next: SimFrame | None = None

    @property
    def late(self) -> int:
        """Frames delivered more than a period after their time."""
        return self._pacer.late

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame once it is due; None if it is not due within ``timeout_s``, or
        once the source is exhausted or closed."""
        if self.exhausted or self._pacer.closed:
            return None
        ahead = not getattr(self.sim, "render_when_due", False)
        if self._next is None and ahead:
            self._next = self.sim.render(self.received)
        if not self._pacer.wait(self.received, timeout_s):
            return None
        rendered, self._next = self._next or self.sim.render(self.received), None
        frame = sim_frame_to_frame(
            self.sim, rendered, self.stream_id, time.time_ns(), with_truth=True
        )
        self.received += 1
        if self.frames is not None and self.received >= self.frames:
            self.exhausted = True
        return frame.stamp("recv")

    def stats(self) -> dict[str, Any]:
        return {"received": self.received, "late": self.late, "gaps": 0, "malformed": 0}

    def describe(self) -> dict[str, Any]:
        """The simulator's truth for the whole run (seed, anatomy, true EF and heart rate)."""
        return self.sim.describe()

    def close(self) -> None:
        self._pacer.close()


def open_sim_source(uri: ResourceUri) -> SimSource:
    """The :class:`SimSource` of a ``sim:MODALITY?...`` URI; ValueError for bad options."""
    uri.check_keys(_KEYS)
    options: dict[str, Any] = {"seed": uri.integer("seed", 0)}
    for key, option in (("fps", "fps"), ("ef", "ef"), ("hr", "hr_bpm")):
        value = uri.number(key)
        if value is not None:
            options[option] = value
    sim = make_simulator(uri.target, **options)
    return SimSource(sim, frames=uri.integer("frames"), stream_id=uri.query.get("stream"))


register_source("sim", open_sim_source)
