"""Same-host shared-memory payloads for the live path (wire v1 ``shm`` extension).

A sender on the same machine as its receivers writes the pixels into a ring of slots in a
POSIX shared-memory object (``/dev/shm/orstream-*``, mode 0600) and sends only the header,
which names the slot; the receiver maps the object read-only and hands the pipeline a view:
one copy on send, none on receive, and no frame-sized socket traffic.

Layout (little-endian): a 64-byte segment header — a uint32 frame counter at 0 (a futex word
the sender increments and wakes after each frame), the newest slot's offset (uint64 at 8) and
generation (uint64 at 16) — then the slots. Each slot has :data:`SLOT_META_BYTES` of metadata
— a generation counter (uint64 at 0, a seqlock: odd while the sender writes, even when the slot
holds a whole frame), the length of the frame's wire header (uint32 at 8) and, from byte 64,
that header's JSON — then the payload. A receiver accepts a slot only if its generation equals
the expected one, and re-checks it when a frame has been used (:meth:`Frame.intact`): a slot
the sender has since reused means the frame was overwritten and is dropped. The ring is for
live (PUB/SUB) feeds, where dropping an old frame is the rule anyway; lossless feeds send their
payloads on the socket.

A :class:`ShmFollower` waits on the frame counter and reads the newest slot as soon as it is
complete, header included, so that a receiver does not wait for the socket's copy of the
header. The socket's copy is for discovery and for receivers that do not follow: a receiver
that follows a ring and needs no copy subscribes to :func:`follow_topic` of it, and the sender
leaves the socket out for that ring's frames while every subscriber does.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import secrets
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any, Final, TypeGuard

import numpy as np
import numpy.typing as npt

from ._futex import futex_wait, futex_wake

SHM_DIR: Final = Path("/dev/shm")
SEGMENT_HEADER_BYTES: Final = 64
SLOT_META_BYTES: Final = 64 + 16 * 1024
"""Slot metadata before the payload: generation, header length, the header JSON (<= 16 KiB)."""
DEFAULT_SLOTS: Final = 16
SHM_MIN_BYTES: Final = 512 * 1024
"""Smaller payloads go on the socket: for them a ring saves little, and a fast sender of
small frames laps a 16-slot ring before a receiver reads it."""
MAX_RING_BYTES: Final = 512 * 1024 * 1024
_NAME_RE: Final = re.compile(r"^orstream-[A-Za-z0-9_-]{1,64}$")
_GEN: Final = struct.Struct("<Q")
_LEN: Final = struct.Struct("<I")
_U32: Final = _LEN
_LATEST: Final = struct.Struct("<QQ")
_MAX_MAPPED_SEGMENTS: Final = 8
FOLLOW_PREFIX: Final = b"\x00orstream-follow "
"""Subscription prefix by which a receiver tells a shm sender that it follows a ring and needs
no socket copy of its frames (a JSON header never starts with a NUL byte, so no message
matches it)."""


def follow_topic(name: str) -> bytes:
    """The subscription that says "I follow ring ``name``, skip its frames on the socket"."""
    return FOLLOW_PREFIX + name.encode()


class ShmError(ValueError):
    """A shared-memory reference that cannot be used (names the reason)."""


class ShmOverrunError(ShmError):
    """The slot was reused before the receiver read it: the frame is lost (live-path drop)."""


def shm_available() -> bool:
    """True where POSIX shared memory lives in ``/dev/shm`` (Linux)."""
    return SHM_DIR.is_dir() and os.access(SHM_DIR, os.W_OK)


class ShmRingWriter:
    """The sender's ring of ``slots`` slots of ``slot_bytes`` payload bytes each."""

    def __init__(self, slot_bytes: int, slots: int = DEFAULT_SLOTS) -> None:
        if not shm_available():
            raise ShmError("shared memory needs /dev/shm (Linux); send payloads on the socket")
        self.slot_bytes = slot_bytes
        self.stride = SLOT_META_BYTES + (-(-slot_bytes // 64) * 64)
        self.slots = max(2, min(slots, MAX_RING_BYTES // self.stride))
        self.name = f"orstream-{os.getpid()}-{secrets.token_hex(6)}"
        self.path = SHM_DIR / self.name
        size = SEGMENT_HEADER_BYTES + self.stride * self.slots
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        np.frombuffer(self._map, np.uint8)[:] = 0  # fault every page in now, not on frame one
        self._counter = np.frombuffer(self._map, np.uint32, 1, 0)
        self._address = self._counter.ctypes.data
        self._payloads = [
            np.frombuffer(self._map, np.uint8, slot_bytes, self._base(i) + SLOT_META_BYTES)
            for i in range(self.slots)
        ]
        self._generations = [0] * self.slots
        self._next = 0

    def _base(self, slot: int) -> int:
        return SEGMENT_HEADER_BYTES + slot * self.stride

    def put(self, pixels: npt.NDArray[Any], header: bytes) -> dict[str, Any]:
        """Copy ``pixels`` (C-contiguous, at most ``slot_bytes``) and the frame's wire
        ``header`` (at most 16 KiB) into the next slot, then wake followers; returns the
        reference for the socket's header: ``{"segment", "offset", "nbytes", "gen"}``."""
        if len(header) > SLOT_META_BYTES - 64:
            raise ShmError(f"header of {len(header)} B does not fit a slot")
        slot = self._next
        self._next = (slot + 1) % self.slots
        base = self._base(slot)
        gen = self._generations[slot] + 2
        _GEN.pack_into(self._map, base, gen - 1)  # odd: being written
        _LEN.pack_into(self._map, base + 8, len(header))
        self._map[base + 64 : base + 64 + len(header)] = header
        offset = base + SLOT_META_BYTES
        self._payloads[slot][: pixels.nbytes] = pixels.reshape(-1).view(np.uint8)
        _GEN.pack_into(self._map, base, gen)  # even: complete
        self._generations[slot] = gen
        _LATEST.pack_into(self._map, 8, offset, gen)
        _U32.pack_into(self._map, 0, (_U32.unpack_from(self._map, 0)[0] + 1) % 2**32)
        futex_wake(self._address)
        return {"segment": self.name, "offset": offset, "nbytes": pixels.nbytes, "gen": gen}

    def close(self) -> None:
        """Unlink the object; receivers' existing mappings stay valid until they unmap."""
        self.path.unlink(missing_ok=True)
        del self._counter, self._payloads
        self._map.close()


class ShmFollower:
    """Follows one sender's ring: waits for the next frame and returns the newest slot's
    header bytes and reference, without the socket. Linux only (:func:`futex_available`)."""

    def __init__(self, reader: ShmReader, name: str) -> None:
        if not _NAME_RE.match(name):
            raise ShmError(f"{name!r} is not an orstream-* shared-memory name")
        self.name = name
        self._segment = reader.segment(name)
        self._counter = np.frombuffer(self._segment, np.uint32, 1, 0)
        self._address = self._counter.ctypes.data
        self._seen = int(self._counter[0])
        self._passed = 0
        self.published = 0
        """Frames the sender published between the previous frame :meth:`wait` returned and
        the one it returned last (that one included; older ones were passed over)."""

    def wait(self, timeout_s: float) -> tuple[bytes, dict[str, Any]] | None:
        """``(header JSON bytes, {"segment", "offset", "nbytes": None, "gen"})`` of the newest
        complete frame once the sender has published a new one, or None after ``timeout_s``
        (or when the slot was reused while it was read); see :attr:`published`."""
        if int(self._counter[0]) == self._seen:
            futex_wait(self._address, self._seen, timeout_s)
        return self.poll()

    def poll(self) -> tuple[bytes, dict[str, Any]] | None:
        """Like :meth:`wait`, without waiting: None when nothing new has been published."""
        counter: int = _U32.unpack_from(self._segment, 0)[0]
        if counter == self._seen:
            return None
        self._passed += (counter - self._seen) % 2**32
        self._seen = counter
        offset, gen = _LATEST.unpack_from(self._segment, 8)
        base = offset - SLOT_META_BYTES
        if not SEGMENT_HEADER_BYTES <= base < len(self._segment) - SLOT_META_BYTES:
            return None
        length = _LEN.unpack_from(self._segment, base + 8)[0]
        if length > SLOT_META_BYTES - 64:
            return None
        header = self._segment[base + 64 : base + 64 + length]
        if _GEN.unpack_from(self._segment, base)[0] != gen:
            return None  # reused while we read: the next wake brings a newer frame
        self.published, self._passed = self._passed, 0
        return header, {"segment": self.name, "offset": offset, "gen": gen}

    def word(self) -> tuple[int, int, bool]:
        """The frame counter as ``(address, value seen, shared=True)``: a ``futex_waitv`` on it
        returns once the sender publishes a frame this follower has not seen."""
        return self._address, self._seen, True


class SlotLease:
    """A frame's claim on its slot: calling it says whether the slot still holds the frame
    (its generation is unchanged); ``segment`` names the ring."""

    __slots__ = ("_at", "_gen", "_map", "segment")

    def __init__(self, segment: str, mapping: mmap.mmap, gen_at: int, gen: int) -> None:
        self.segment = segment
        self._map, self._at, self._gen = mapping, gen_at, gen

    def __call__(self) -> bool:
        return bool(_GEN.unpack_from(self._map, self._at)[0] == self._gen)


class ShmReader:
    """The receiver side: maps segments read-only (a few at a time) and checks generations."""

    def __init__(self) -> None:
        self._maps: OrderedDict[str, mmap.mmap] = OrderedDict()

    def view(
        self, ref: object, dtype: np.dtype[Any], shape: list[int]
    ) -> tuple[npt.NDArray[Any], SlotLease]:
        """A read-only view of the referenced slot and the check that it is still intact.

        Raises :class:`ShmError` for a malformed reference, an unknown segment, a range outside
        the segment, a size that does not match ``dtype`` and ``shape``, or a reused slot.
        """
        name, offset, nbytes, gen = _parse_ref(ref)
        count = math.prod(shape)
        if nbytes != count * dtype.itemsize:
            needs = count * dtype.itemsize
            raise ShmError(f"shm slot holds {nbytes} B but {dtype.name}{shape} needs {needs} B")
        segment = self.segment(name)
        gen_at = offset - SLOT_META_BYTES
        if offset % 64 or gen_at < SEGMENT_HEADER_BYTES or offset + nbytes > len(segment):
            raise ShmError(f"shm range {offset}+{nbytes} lies outside segment {name}")
        lease = SlotLease(name, segment, gen_at, gen)
        if not lease():
            raise ShmOverrunError("shm slot reused before the frame was read (receiver too slow)")
        return np.frombuffer(segment, dtype, count, offset).reshape(shape), lease

    def segment(self, name: str) -> mmap.mmap:
        """The read-only mapping of segment ``name`` (mapped on first use)."""
        segment = self._maps.get(name)
        if segment is not None:
            self._maps.move_to_end(name)
            return segment
        try:
            fd = os.open(SHM_DIR / name, os.O_RDONLY)
        except OSError as exc:
            raise ShmError(f"cannot open shm segment {name}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                raise ShmError(f"shm segment {name} is empty")
            segment = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self._maps[name] = segment
        if len(self._maps) > _MAX_MAPPED_SEGMENTS:
            self._maps.popitem(last=False)  # frames still viewing it keep the mapping alive
        return segment

    def names(self) -> list[str]:
        """The segments mapped now."""
        return list(self._maps)

    def close(self) -> None:
        self._maps.clear()


def _parse_ref(ref: object) -> tuple[str, int, int, int]:
    if not isinstance(ref, dict):
        raise ShmError("'shm' must be an object {segment, offset, nbytes, gen}")
    name = ref.get("segment")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ShmError("'shm.segment' must be an orstream-* shared-memory name")
    offset, nbytes, gen = ref.get("offset"), ref.get("nbytes"), ref.get("gen")
    if not (_small_int(offset) and _small_int(nbytes) and _small_int(gen)):
        raise ShmError("'shm.offset', 'shm.nbytes' and 'shm.gen' must be non-negative integers")
    return name, offset, nbytes, gen


def _small_int(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value < 2**62
