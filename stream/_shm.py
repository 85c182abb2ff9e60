"""Same-host shared-memory payloads for the live path (wire v1 ``shm`` extension).

A sender on the same machine as its receivers writes the pixels into a ring of slots in a
POSIX shared-memory object (``/dev/shm/orstream-*``, mode 0600) and sends only the header,
which names the slot; the receiver maps the object read-only and hands the pipeline a view:
one copy on send, none on receive, and no frame-sized socket traffic.

Each slot starts with a 64-byte slot header whose first 8 bytes are a generation counter
(a seqlock): odd while the sender writes, even when the slot holds a whole frame. A receiver
accepts a slot only if its generation equals the one in the message, and re-checks it when a
frame has been used (:meth:`Frame.intact`): a slot the sender has since reused means the
frame was overwritten and is dropped. The ring is for live (PUB/SUB) feeds, where dropping an
old frame is the rule anyway; lossless feeds send their payloads on the socket.
"""

from __future__ import annotations

import mmap
import os
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

SHM_DIR: Final = Path("/dev/shm")
SLOT_HEADER_BYTES: Final = 64
DEFAULT_SLOTS: Final = 16
SHM_MIN_BYTES: Final = 512 * 1024
"""Smaller payloads go on the socket: for them a ring saves little, and a fast sender of
small frames laps a 16-slot ring before a receiver reads it."""
MAX_RING_BYTES: Final = 512 * 1024 * 1024
_NAME_RE: Final = re.compile(r"^orstream-[A-Za-z0-9_-]{1,64}$")
_GEN: Final = struct.Struct("<Q")
_MAX_MAPPED_SEGMENTS: Final = 8


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
        self.stride = SLOT_HEADER_BYTES + (-(-slot_bytes // 64) * 64)
        self.slots = max(2, min(slots, MAX_RING_BYTES // self.stride))
        self.name = f"orstream-{os.getpid()}-{secrets.token_hex(6)}"
        self.path = SHM_DIR / self.name
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, self.stride * self.slots)
            self._map = mmap.mmap(fd, self.stride * self.slots)
        finally:
            os.close(fd)
        np.frombuffer(self._map, np.uint8)[:] = 0  # fault every page in now, not on frame one
        self._generations = [0] * self.slots
        self._next = 0

    def put(self, pixels: npt.NDArray[Any]) -> dict[str, Any]:
        """Copy ``pixels`` (C-contiguous, at most ``slot_bytes``) into the next slot; returns
        the reference for the header: ``{"segment", "offset", "nbytes", "gen"}``."""
        slot = self._next
        self._next = (slot + 1) % self.slots
        base = slot * self.stride
        gen = self._generations[slot] + 2
        _GEN.pack_into(self._map, base, gen - 1)  # odd: being written
        offset = base + SLOT_HEADER_BYTES
        dst = np.frombuffer(self._map, np.uint8, pixels.nbytes, offset)
        dst[:] = pixels.reshape(-1).view(np.uint8)
        _GEN.pack_into(self._map, base, gen)  # even: complete
        self._generations[slot] = gen
        return {"segment": self.name, "offset": offset, "nbytes": pixels.nbytes, "gen": gen}

    def close(self) -> None:
        """Unlink the object; receivers' existing mappings stay valid until they unmap."""
        self.path.unlink(missing_ok=True)
        self._map.close()


class ShmReader:
    """The receiver side: maps segments read-only (a few at a time) and checks generations."""

    def __init__(self) -> None:
        self._maps: OrderedDict[str, mmap.mmap] = OrderedDict()

    def view(
        self, ref: object, dtype: np.dtype[Any], shape: list[int]
    ) -> tuple[npt.NDArray[Any], Callable[[], bool]]:
        """A read-only view of the referenced slot and the check that it is still intact.

        Raises :class:`ShmError` for a malformed reference, an unknown segment, a range outside
        the segment, a size that does not match ``dtype`` and ``shape``, or a reused slot.
        """
        name, offset, nbytes, gen = _parse_ref(ref)
        expected = int(np.prod(shape)) * dtype.itemsize
        if nbytes != expected:
            raise ShmError(f"shm slot holds {nbytes} B but {dtype.name}{shape} needs {expected} B")
        segment = self._segment(name)
        gen_at = offset - SLOT_HEADER_BYTES
        if offset % 64 or gen_at < 0 or offset + nbytes > len(segment):
            raise ShmError(f"shm range {offset}+{nbytes} lies outside segment {name}")
        if _GEN.unpack_from(segment, gen_at)[0] != gen:
            raise ShmOverrunError("shm slot reused before the frame was read (receiver too slow)")
        pixels = np.frombuffer(segment, dtype, int(np.prod(shape)), offset).reshape(shape)

        def intact() -> bool:
            return bool(_GEN.unpack_from(segment, gen_at)[0] == gen)

        return pixels, intact

    def _segment(self, name: str) -> mmap.mmap:
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

    def close(self) -> None:
        self._maps.clear()


def _parse_ref(ref: object) -> tuple[str, int, int, int]:
    if not isinstance(ref, dict):
        raise ShmError("'shm' must be an object {segment, offset, nbytes, gen}")
    name = ref.get("segment")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ShmError("'shm.segment' must be an orstream-* shared-memory name")
    values = [ref.get(key) for key in ("offset", "nbytes", "gen")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62 for v in values):
        raise ShmError("'shm.offset', 'shm.nbytes' and 'shm.gen' must be non-negative integers")
    offset, nbytes, gen = (int(v) for v in values)  # type: ignore[arg-type]
    return name, offset, nbytes, gen
