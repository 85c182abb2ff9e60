"""The live-path rule over any source: newest frame wins, per stream, stale frames counted.

For a source that offers same-host shared-memory rings (:class:`SharedMemorySource`, the
ZeroMQ SUB source), a follower thread per ring hands each frame over as soon as the sender
completes it, ahead of (or, without a tap, instead of) the socket's copy.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from ._drops import DropCounter
from ._frame import Frame
from ._futex import futex_available
from ._protocols import Source
from ._shm import SHM_DIR, ShmError, ShmFollower, ShmReader
from ._wire import WireError, decode_shm_slot

_log = logging.getLogger("orstream.stream")

_MAX_TRACKED_STREAMS: Final = 1024
_MAX_FOLLOWERS: Final = 8


@runtime_checkable
class SharedMemorySource(Protocol):
    """A source whose frames may live in shared-memory rings on this machine."""

    max_payload_bytes: int

    def shm_segments(self) -> list[str]:
        """Names of the rings (under ``SHM_DIR``) frames have come from so far."""
        ...

    def shm_follow(self, name: str, following: bool) -> None:
        """Tell the sender whether this receiver follows ring ``name`` and so needs no socket
        copy of its frames; called from the thread that receives."""
        ...


@dataclass
class _Ring:
    """A followed ring: its thread, and frames of it the socket offered since the thread last
    accounted for the ring's frames (under ``LatestFrameSource._cond``)."""

    thread: threading.Thread
    socket_offers: int = 0


class LatestFrameSource:
    """The live-path rule, newest frame wins, per stream: a thread drains ``source`` as fast
    as frames arrive and keeps only the newest pending frame of each stream id; an older frame
    that a newer one of the same stream displaces is dropped and counted in ``stale``. Streams
    are served oldest-pending first, so one fast stream cannot starve another. ``tap``, if
    given, sees every frame in arrival order in the receive thread (the lossless recording
    path hangs there) and must return quickly; a tap that raises is counted in ``tap_errors``
    and the frame still goes on. ``start=False`` leaves the thread to :meth:`start` (or the
    first :meth:`recv`), so a source paced by its own clock is not drained before the consumer
    is ready. When ``source`` is exhausted (a finite clip) the thread ends and, once the last
    pending frame is taken, ``exhausted`` is True.

    For a same-host shared-memory feed (``?shm=1`` on the sender; only a source that is a
    :class:`SharedMemorySource`) a follower thread per ring waits on the ring itself and offers
    the newest frame as soon as it is complete (counted in ``followed``; frames it passes over
    are stale). With a tap the socket's copies still come, for the tap, in order, and are
    recognised by capture time and sequence number and skipped; without one the source tells
    the sender to leave them out, so the socket stays quiet while the ring is followed. Frames
    whose pixels came on the socket are never compared, only queued.
    """

    live = True

    def __init__(
        self, source: Source, tap: Callable[[Frame], None] | None = None, *, start: bool = True
    ) -> None:
        self.source = source
        self.stale = 0
        self.followed = 0
        self.tap_errors = DropCounter("live tap")
        self._shm_source = source if isinstance(source, SharedMemorySource) else None
        self._pending: OrderedDict[str, Frame] = OrderedDict()
        self._newest_shm: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._rings: dict[str, _Ring] = {}
        self._unfollowed: list[str] = []
        self._tap = tap
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ended = False
        self._started = False
        self._thread = threading.Thread(target=self._drain, name="orstream-recv", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start draining the source (idempotent; nothing after :meth:`close`)."""
        with self._cond:
            if self._started or self._stop.is_set():
                return
            self._started = True
        self._thread.start()

    @property
    def exhausted(self) -> bool:
        """True once the source has ended (or was closed) and no frame is pending."""
        with self._cond:
            return self._ended and not self._pending

    def _drain(self) -> None:
        try:
            while not self._stop.is_set():
                if self._unfollowed and self._shm_source is not None:
                    with self._cond:
                        gone, self._unfollowed = self._unfollowed, []
                    for name in gone:
                        self._shm_source.shm_follow(name, False)
                frame = self.source.recv(timeout_s=0.05)
                if frame is None:
                    if getattr(self.source, "exhausted", False):
                        break
                    continue
                if self._tap is not None:
                    try:
                        self._tap(frame)
                    except Exception as exc:  # the live path goes on without that record
                        self.tap_errors.drop("tap", f"{type(exc).__name__}: {exc}")
                if frame.lease is not None and self._shm_source is not None and futex_available():
                    self._follow_new_segments(self._shm_source)
                with self._cond:
                    ring = self._rings.get(getattr(frame.lease, "segment", ""))
                    if self._offer(frame) and ring is not None:
                        ring.socket_offers += 1
        except Exception:  # a broken source ends the stream rather than hang the consumer
            _log.exception("live source %s failed; its stream ends", type(self.source).__name__)
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _offer(self, frame: Frame) -> bool:
        """Queue ``frame``, newest per stream; under ``_cond``. True if queued. A frame in a
        shared-memory ring can arrive twice (follower, then socket): a copy of, or a frame
        older than, one already offered (by capture time, then sequence number) is skipped
        (an older one was counted stale by the follower that passed it over)."""
        if frame.lease is not None:
            key = (frame.t_capture_ns, frame.seq)
            newest = self._newest_shm.get(frame.stream_id)
            if newest is not None and key <= newest:
                return False
            self._newest_shm[frame.stream_id] = key
            self._newest_shm.move_to_end(frame.stream_id)
            if len(self._newest_shm) > _MAX_TRACKED_STREAMS:
                self._newest_shm.popitem(last=False)
        if self._pending.pop(frame.stream_id, None) is not None:
            self.stale += 1
        elif len(self._pending) >= _MAX_TRACKED_STREAMS:
            self._pending.popitem(last=False)
            self.stale += 1
        self._pending[frame.stream_id] = frame
        self._cond.notify()
        return True

    def _follow_new_segments(self, source: SharedMemorySource) -> None:
        for name in source.shm_segments():
            if name in self._rings or len(self._rings) >= _MAX_FOLLOWERS:
                continue
            reader = ShmReader()
            try:
                follower = ShmFollower(reader, name)
            except ShmError:
                continue
            thread = threading.Thread(
                target=self._follow,
                args=(follower, reader, source.max_payload_bytes),
                name="orstream-shm",
                daemon=True,
            )
            with self._cond:
                self._rings[name] = _Ring(thread)
            thread.start()
            if self._tap is None:  # the tap needs the socket's copies, in order
                source.shm_follow(name, True)

    def _follow(self, follower: ShmFollower, reader: ShmReader, max_payload_bytes: int) -> None:
        """Offer the newest frame of the ring as soon as the sender completes it; ends with the
        pipeline or when the sender has removed the ring."""
        name = follower.name
        idle = 0
        while not self._stop.is_set():
            got = follower.wait(0.1)
            if got is None:
                idle += 1
                if idle % 10 == 0 and not (SHM_DIR / name).exists():
                    break
                continue
            idle = 0
            try:
                frame: Frame | None = decode_shm_slot(*got, reader, max_payload_bytes)
            except WireError:
                frame = None  # reused while read, or a header this receiver refuses
            with self._cond:
                ring = self._rings[name]
                offered = frame is not None and self._offer(frame.stamp("recv"))
                # Frames published since the last one followed that neither path offered.
                self.stale += max(0, follower.published - offered - ring.socket_offers)
                ring.socket_offers = 0
                self.followed += offered
        with self._cond:
            self._rings.pop(name, None)
            self._unfollowed.append(name)

    def recv(self, timeout_s: float | None = None, skip: Container[str] = ()) -> Frame | None:
        """The newest frame of the stream waiting longest, or None after ``timeout_s`` (or at
        once when the source has ended and nothing is pending).

        ``skip``: stream ids not to serve now (a pipeline's workers still have a frame of
        each); their frames wait, newest wins. The caller may shrink ``skip`` from another
        thread and then call :meth:`wake`."""
        self.start()

        def first() -> str | None:
            return next((s for s in self._pending if s not in skip), None)

        with self._cond:
            if not self._cond.wait_for(
                lambda: first() is not None or (self._ended and not self._pending), timeout_s
            ):
                return None
            stream = first()
            return None if stream is None else self._pending.pop(stream)

    def wake(self) -> None:
        """Make a waiting :meth:`recv` look again (after its ``skip`` shrank)."""
        with self._cond:
            self._cond.notify_all()

    def stats(self) -> dict[str, Any]:
        return {
            **self.source.stats(),
            "stale": self.stale,
            "followed": self.followed,
            "tap_errors": self.tap_errors.total,
        }

    def close(self) -> None:
        """Stop the receive and follower threads and close the source; idempotent."""
        with self._cond:
            self._stop.set()
            started = self._started
        if started:
            self._thread.join()
        else:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
        for ring in list(self._rings.values()):
            ring.thread.join()
        self.source.close()
