"""What the commands share on the command line: argparse types (bad values become argparse's
one-line error) and where senders and receivers meet when not told otherwise.

The meeting rule: senders (``sim publish``, ``replay``) bind :data:`DEFAULT_ENDPOINT`,
receivers (``run``, ``record``) connect to it. A ZeroMQ pattern a URI does not name follows
from who binds (:func:`orstream.stream.default_pattern`), so any two commands meet when
exactly one of them binds.
"""

from __future__ import annotations

import argparse
import math
from typing import Final

DEFAULT_ENDPOINT: Final = "zmq+tcp://127.0.0.1:5555"
"""The one default feed: receivers connect here, senders bind it (loopback only)."""
DEFAULT_SEND_ENDPOINT: Final = f"{DEFAULT_ENDPOINT}?bind=1"
""":data:`DEFAULT_ENDPOINT` as a sender opens it (bound)."""


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, frames per second, millimetres)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (a wait in seconds that may be none)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number >= 0")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (frames, epochs, threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value
