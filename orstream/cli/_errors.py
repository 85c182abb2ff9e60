"""Errors and hints the command line prints as one line on stderr."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

from ..stream import parse_endpoint

_log = logging.getLogger("orstream.cli")

NO_FRAMES_HINT_S: Final = 3.0
"""How long a receiver waits for its first message before it says what is likely wrong (s)."""


class UsageError(Exception):
    """Bad input a user can fix: printed as one line, exit code 2."""


def missing_package_error(exc: ImportError) -> UsageError:
    """One line for an optional package that is not installed, with the command to get it."""
    from ._doctor import install_command

    command = install_command(exc.name) if exc.name else None
    if command is None or command in str(exc):
        return UsageError(str(exc) or f"cannot import {exc.name}")
    return UsageError(f"{exc.name} is not installed here ({exc}): {command}")


def no_frames_hint(uri: str, pattern: str, after_s: float = NO_FRAMES_HINT_S) -> str:
    """The warning for a receiver on ``uri`` (socket ``pattern`` sub or pull) that got nothing
    within ``after_s`` seconds: what is most likely missing, and the command that starts it."""
    endpoint = parse_endpoint(uri)
    base = uri.partition("?")[0]
    here = f"no frames {'on' if endpoint.bind else 'from'} {uri} after {after_s:g} s"
    other = "pull" if pattern == "sub" else "sub"
    mismatch = f"a {'push' if pattern == 'sub' else 'pub'} sender needs ?pattern={other} here"
    if endpoint.bind:
        return (
            f"{here}: is a sender connecting to it (orstream replay PATH --endpoint "
            f"{base.replace('*', 'HOST')})? ({mismatch})"
        )
    send = f"{base}?bind=1"
    return (
        f"{here}: is a sender running and bound there (orstream sim publish --endpoint {send}, "
        f"or orstream replay PATH --endpoint {send})? ({mismatch})"
    )


def warn_if_no_frames(
    uri: str, received: Callable[[], int], pattern: str, after_s: float = NO_FRAMES_HINT_S
) -> threading.Timer:
    """Log :func:`no_frames_hint` once if ``received()`` (messages so far, valid or not) is
    still 0 after ``after_s`` seconds; ``cancel()`` the returned timer when receiving ends.
    For a URI that is not a ZeroMQ endpoint (a file, the simulator) the timer never starts."""
    try:
        hint = no_frames_hint(uri, pattern, after_s)
    except ValueError:
        hint = None

    def check() -> None:
        if received() == 0:
            _log.warning(hint)

    timer = threading.Timer(after_s, check)
    timer.daemon = True
    if hint is not None:
        timer.start()
    return timer
