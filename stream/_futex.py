"""Linux futexes on shared memory: one process waits on a 32-bit word, another wakes it.

Used by the shared-memory ring (``_shm.py``) so that a receiver on the same machine wakes as
soon as a frame is complete, without the two ZeroMQ I/O threads in between; with
``futex_waitv`` (Linux 5.16+) one thread waits on several words at once (:func:`futex_waitv`).
Everything here is optional: :func:`futex_available` is False off Linux x86-64/ARM64, and
callers then rely on the socket alone.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import platform
import sys
import time
from collections.abc import Sequence
from typing import Final

_SYS_FUTEX: Final = {"x86_64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine())
_SYS_FUTEX_WAITV: Final = 449 if _SYS_FUTEX is not None else None  # same on both
_FUTEX_WAIT: Final = 0
_FUTEX_WAKE: Final = 1
_FUTEX_PRIVATE: Final = 128
_FUTEX_32: Final = 2
_WAKE_ALL: Final = 2**31 - 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Waitv(ctypes.Structure):
    _fields_ = (
        ("val", ctypes.c_uint64),
        ("uaddr", ctypes.c_uint64),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    )


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def futex_available() -> bool:
    """True where futex waits on shared memory are supported (Linux, x86-64 or ARM64)."""
    return _libc is not None and _SYS_FUTEX is not None


def futex_wait(address: int, expected: int, timeout_s: float) -> None:
    """Sleep while the uint32 at ``address`` equals ``expected``, at most ``timeout_s`` s.

    Returns on a wake, a changed value, a timeout or a signal (callers re-check the word).
    The GIL is released while waiting.
    """
    if _libc is None or _SYS_FUTEX is None:
        raise OSError("futexes need Linux on x86-64 or ARM64")
    timeout = _Timespec(int(timeout_s), int((timeout_s % 1.0) * 1e9))
    _libc.syscall(
        _SYS_FUTEX, ctypes.c_void_p(address), _FUTEX_WAIT, ctypes.c_uint32(expected),
        ctypes.byref(timeout), None, 0,
    )  # fmt: skip


def futex_wake(address: int) -> None:
    """Wake every waiter on the uint32 at ``address`` (a no-op without waiters)."""
    if _libc is not None and _SYS_FUTEX is not None:
        _libc.syscall(_SYS_FUTEX, ctypes.c_void_p(address), _FUTEX_WAKE, _WAKE_ALL, None, None, 0)


@functools.cache
def futex_waitv_available() -> bool:
    """True where one thread can wait on several futexes at once (Linux 5.16 and later)."""
    if _libc is None or _SYS_FUTEX_WAITV is None:
        return False
    _libc.syscall(_SYS_FUTEX_WAITV, None, 0, 0, None, 0)  # no futexes: EINVAL if supported
    return ctypes.get_errno() == errno.EINVAL


def futex_waitv(words: Sequence[tuple[int, int, bool]], timeout_s: float | None) -> None:
    """Sleep until one of ``words`` is woken or differs from its expected value, at most
    ``timeout_s`` s (None: no limit). ``words``: (address of a uint32, expected value,
    shared between processes?). Callers re-check the words; the GIL is released."""
    if _libc is None or _SYS_FUTEX_WAITV is None:
        raise OSError("futex_waitv needs Linux 5.16 or later on x86-64 or ARM64")
    waiters = (_Waitv * len(words))(
        *(_Waitv(v, a, _FUTEX_32 | (0 if shared else _FUTEX_PRIVATE), 0) for a, v, shared in words)
    )
    timeout = None
    if timeout_s is not None:
        end = time.clock_gettime(time.CLOCK_MONOTONIC) + max(0.0, timeout_s)
        timeout = ctypes.byref(_Timespec(int(end), int((end % 1.0) * 1e9)))
    _libc.syscall(_SYS_FUTEX_WAITV, waiters, len(words), 0, timeout, time.CLOCK_MONOTONIC)


class WakeWord:
    """A private futex word for :func:`futex_waitv`: :meth:`bump` wakes whoever waits on it.

    Bump it under the same lock under which waiters read :meth:`word`, so no wake is lost."""

    def __init__(self) -> None:
        self._value = ctypes.c_uint32(0)
        self._address = ctypes.addressof(self._value)

    def word(self) -> tuple[int, int, bool]:
        """``(address, current value, shared=False)`` for :func:`futex_waitv`."""
        return self._address, self._value.value, False

    def bump(self) -> None:
        self._value.value = (self._value.value + 1) % 2**32
        if _libc is not None and _SYS_FUTEX is not None:
            _libc.syscall(
                _SYS_FUTEX, ctypes.c_void_p(self._address), _FUTEX_WAKE | _FUTEX_PRIVATE,
                _WAKE_ALL, None, None, 0,
            )  # fmt: skip
