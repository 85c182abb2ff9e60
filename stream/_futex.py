"""Linux futexes on shared memory: one process waits on a 32-bit word, another wakes it.

Used by the shared-memory ring (``_shm.py``) so that a receiver on the same machine wakes as
soon as a frame is complete, without the two ZeroMQ I/O threads in between. Everything here is
optional: :func:`futex_available` is False off Linux x86-64/ARM64, and callers then rely on
the socket alone.
"""

from __future__ import annotations

import ctypes
import platform
import sys
from typing import Final

_SYS_FUTEX: Final = {"x86_64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine())
_FUTEX_WAIT: Final = 0
_FUTEX_WAKE: Final = 1
_WAKE_ALL: Final = 2**31 - 1


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


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
