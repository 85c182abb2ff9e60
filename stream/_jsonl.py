"""Per-frame results as JSON Lines: the ``jsonl:PATH`` sink.

One object per frame that reached the sinks, one line each, flushed per line, so a reader
(``tail -f``, a notebook) sees every frame as it leaves the pipeline and a crash loses at most
the line being written::

    {"stream": "a4c", "seq": 12, "t_capture_ns": 1733212800000000000, "modality": "echo",
     "latency_ms": 41.207, "results": {"ef": {"ef": 0.55, "confidence": 0.9}}}

``latency_ms``: capture to the line's writing, in ms. ``results``: each entry of
``frame.results`` as its ``to_json()`` when it has one, else as itself when it is plain JSON
(None, bool, int, float, str, and lists and dicts of those; numpy scalars as numbers); arrays
(masks) and anything else are left out: pixels travel in frames, not in text. Floats that are
not finite become null.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Self

import numpy as np

from ._drops import DropCounter
from ._frame import Frame
from ._registry import ResourceUri, register_sink

_SKIP: Final = object()
"""What :func:`plain_json` gives for a value JSON cannot carry."""


class JsonLinesSink:
    """Writes one JSON line per frame to ``path`` (UTF-8), flushed per line.

    An existing file is an error (FileExistsError) unless ``overwrite``. A result whose
    ``to_json()`` raises is left out of its line and counted in ``errors``. ``close`` is
    idempotent; ``write`` after it raises ValueError. Thread-safe.
    """

    name = "jsonl"

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self._file = open(self.path, "w" if overwrite else "x", encoding="utf-8")  # noqa: SIM115
        self.lines = 0
        self.errors = DropCounter(f"jsonl {self.path}")
        self._lock = threading.Lock()

    def write(self, frame: Frame) -> None:
        """Append the line of ``frame`` and flush it."""
        record = {
            "stream": frame.stream_id,
            "seq": frame.seq,
            "t_capture_ns": frame.t_capture_ns,
            "modality": str(frame.modality),
            "latency_ms": round(frame.age_ns() / 1e6, 3),
            "results": self._results(frame),
        }
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        with self._lock:
            if self._file.closed:
                raise ValueError(f"{self.path}: JSON Lines sink is closed")
            self._file.write(line)
            self._file.flush()
            self.lines += 1

    def _results(self, frame: Frame) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in frame.results.items():
            to_json = getattr(value, "to_json", None)
            mapped = value
            if callable(to_json):
                try:
                    mapped = to_json()
                except Exception as exc:  # one bad result must not lose the line
                    self.errors.drop(f"to_json:{key}", f"{type(exc).__name__}: {exc}")
                    continue
            plain = plain_json(mapped)
            if plain is not _SKIP:
                out[str(key)] = plain
        return out

    def stats(self) -> dict[str, Any]:
        return {"lines": self.lines, "errors": self.errors.total}

    def close(self) -> None:
        """Flush and close the file; idempotent."""
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plain_json(value: Any) -> Any:
    """``value`` as plain JSON types (non-finite floats as None, numpy scalars as numbers), or
    ``_SKIP`` when it is not JSON: an array, an object, a list holding one, a non-str key.
    Entries of a dict that are not JSON are left out; a list is all JSON or skipped whole."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return plain_json(value.item())
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            return _SKIP
        items = {k: plain_json(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not _SKIP}
    if isinstance(value, list | tuple):
        listed = [plain_json(v) for v in value]
        return _SKIP if any(v is _SKIP for v in listed) else listed
    return _SKIP


def _open_jsonl(uri: ResourceUri) -> JsonLinesSink:
    """``jsonl:PATH[?overwrite=1]``: one JSON line per frame."""
    uri.check_keys({"overwrite"})
    overwrite = uri.flag("overwrite")
    if not uri.target:
        raise ValueError(f"{uri.text!r}: no path; expected jsonl:PATH")
    try:
        return JsonLinesSink(uri.target, overwrite=overwrite)
    except OSError as exc:
        raise ValueError(f"{uri.text!r}: cannot write ({exc.strerror})") from None


register_sink("jsonl", _open_jsonl)
