"""A dependency-free progress bar for training and evaluation (stderr by default).

On a terminal the bar redraws in place at most 10 times a second; elsewhere (a log file, CI)
it prints a line at each 10 % of the work so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Counts ``total`` steps; ``update(text)`` advances one step, ``line(text)`` prints a
    line of its own. ``stream=None`` is silent."""

    def __init__(self, total: int, *, stream: TextIO | None = sys.stderr, width: int = 24) -> None:
        self.total, self.done, self.width = max(1, total), 0, width
        self.stream = stream
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def _text(self, text: str) -> str:
        frac = min(1.0, self.done / self.total)
        filled = int(frac * self.width)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {100 * frac:3.0f}% {text} eta {_duration(eta)}"

    def update(self, text: str = "") -> None:
        self.done += 1
        if self.stream is None:
            return
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self.stream.write("\r" + self._text(text) + "\x1b[K")
                self.stream.flush()
            return
        decile = int(10 * self.done / self.total)
        if decile != self._last_decile:
            self._last_decile = decile
            self.stream.write(self._text(text) + "\n")
            self.stream.flush()

    def line(self, text: str) -> None:
        if self.stream is None:
            return
        self.stream.write(("\r\x1b[K" if self._tty else "") + text + "\n")
        self.stream.flush()
