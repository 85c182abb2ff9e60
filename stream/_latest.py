"""The live-path rule over any source: newest frame wins, per stream, stale frames counted.

For a source that offers same-host shared-memory rings (:class:`SharedMemorySource`, the
ZeroMQ SUB source), each ring's newest frame is read from the ring as soon as the sender
completes it, ahead of (or, without a tap, instead of) the socket's copy: by the consumer's
own thread where Linux can wait on several futexes at once, else by a thread per ring.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from ._drops import DropCounter
from ._frame import Frame
from ._futex import WakeWord, futex_available, futex_waitv, futex_waitv_available
from ._protocols import Source
from ._shm import SHM_DIR, ShmError, ShmFollower, ShmReader
from ._wire import WireError, decode_shm_slot

_log = logging.getLogger("orstream.stream")

_MAX_TRACKED_STREAMS: Final = 1024
_MAX_FOLLOWERS: Final = 8
_RING_CHECK_S: Final = 1.0
"""How often the receive thread looks whether followed rings still exist (s)."""


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
    """A followed ring: its follower, its thread (None where consumers read it themselves),
    and frames of it the socket offered since the ring's frames were last accounted for."""

    follower: ShmFollower
    reader: ShmReader
    max_payload_bytes: int
    thread: threading.Thread | None = None
    socket_offers: int = 0
    headers: dict[bytes, Any] = field(default_factory=dict)

    def decode(self, got: tuple[bytes, dict[str, Any]]) -> Frame | None:
        try:
            frame = decode_shm_slot(*got, self.reader, self.max_payload_bytes, self.headers)
            return frame.stamp("recv")
        except WireError:
            return None  # reused while read, or a header this receiver refuses


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
    :class:`SharedMemorySource`) each ring is followed: its newest frame is taken from the ring
    as soon as it is complete (counted in ``followed``; frames passed over are stale), by
    :meth:`recv` itself, which then waits on the rings as well (Linux 5.16+), or else by a
    thread per ring. With a tap the socket's copies still come, for the tap, in order, and are
    recognised by capture time and sequence number and skipped; without one the source tells
    the sender to leave them out, so the socket stays quiet while the ring is followed. Frames
    whose pixels came on the socket are never compared, only queued.
    """

    live = True
    _pull_rings: bool = futex_waitv_available()
    """Whether :meth:`recv` reads and waits on the rings itself (else a thread per ring)."""

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
        self._kick = WakeWord()  # wakes consumers waiting on the rings
        self._ring_waiters = 0
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
        checked = time.monotonic()
        try:
            while not self._stop.is_set():
                if self._rings and time.monotonic() - checked > _RING_CHECK_S:
                    checked = time.monotonic()
                    self._forget_gone_rings()
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
                self._notify_all()

    def _offer(self, frame: Frame) -> bool:
        """Queue ``frame``, newest per stream; under ``_cond``. True if queued. A frame in a
        shared-memory ring can arrive twice (ring, then socket): a copy of, or a frame older
        than, one already offered (by capture time, then sequence number) is skipped (an older
        one was counted stale when the ring's newer frame was taken)."""
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
        if self._ring_waiters:
            self._kick.bump()
        return True

    def _notify_all(self) -> None:
        """Wake every waiting :meth:`recv`; under ``_cond``."""
        self._cond.notify_all()
        self._kick.bump()

    def _take(self, ring: _Ring, frame: Frame | None) -> None:
        """Offer a frame read from ``ring`` (None: unreadable) and count the ring's frames that
        neither it nor the socket offered as stale; under ``_cond``."""
        offered = frame is not None and self._offer(frame)
        self.stale += max(0, ring.follower.published - offered - ring.socket_offers)
        ring.socket_offers = 0
        self.followed += offered

    def _follow_new_segments(self, source: SharedMemorySource) -> None:
        for name in source.shm_segments():
            if name in self._rings or len(self._rings) >= _MAX_FOLLOWERS:
                continue
            reader = ShmReader()
            try:
                ring = _Ring(ShmFollower(reader, name), reader, source.max_payload_bytes)
            except ShmError:
                continue
            if not self._pull_rings:
                ring.thread = threading.Thread(
                    target=self._follow, args=(ring,), name="orstream-shm", daemon=True
                )
            with self._cond:
                self._rings[name] = ring
                self._notify_all()  # a waiting recv() waits on this ring too from now on
            if ring.thread is not None:
                ring.thread.start()
            if self._tap is None:  # the tap needs the socket's copies, in order
                source.shm_follow(name, True)

    def _forget_gone_rings(self) -> None:
        """Stop following rings whose sender has removed them (the receive thread)."""
        for name in [n for n in self._rings if not (SHM_DIR / n).exists()]:
            with self._cond:
                ring = self._rings.pop(name)
            if ring.thread is not None:
                ring.thread.join()
            if self._shm_source is not None:
                self._shm_source.shm_follow(name, False)

    def _follow(self, ring: _Ring) -> None:
        """A ring's own thread: offer its newest frame as soon as the sender completes it."""
        while not self._stop.is_set() and ring.follower.name in self._rings:
            got = ring.follower.wait(0.1)
            if got is not None:
                frame = ring.decode(got)
                with self._cond:
                    self._take(ring, frame)

    def _pull(self) -> None:
        """Take the newest frame of each ring with news (consumer-read rings); under _cond."""
        for ring in self._rings.values():
            if ring.thread is None and (got := ring.follower.poll()) is not None:
                self._take(ring, ring.decode(got))

    def recv(self, timeout_s: float | None = None, skip: Container[str] = ()) -> Frame | None:
        """The newest frame of the stream waiting longest, or None after ``timeout_s`` (or at
        once when the source has ended and nothing is pending).

        ``skip``: stream ids not to serve now (a pipeline's workers still have a frame of
        each); their frames wait, newest wins. The caller may shrink ``skip`` from another
        thread and then call :meth:`wake`."""
        self.start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while True:
                self._pull()
                stream = next((s for s in self._pending if s not in skip), None)
                if stream is not None:
                    return self._pending.pop(stream)
                if self._ended and not self._pending:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                words = [r.follower.word() for r in self._rings.values() if r.thread is None]
                if not words:
                    self._cond.wait(remaining)
                    continue
                words.append(self._kick.word())
                self._ring_waiters += 1
                self._cond.release()
                try:
                    futex_waitv(words, remaining)
                finally:
                    self._cond.acquire()
                    self._ring_waiters -= 1

    def wake(self) -> None:
        """Make a waiting :meth:`recv` look again (after its ``skip`` shrank)."""
        with self._cond:
            self._notify_all()

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
                self._notify_all()
        for ring in list(self._rings.values()):
            if ring.thread is not None:
                ring.thread.join()
        self.source.close()
