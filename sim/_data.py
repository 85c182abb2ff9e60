"""Where the project's real data lives (``ORSTREAM_DATA`` or ``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

_ENV = "ORSTREAM_DATA"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path | None:
    """The real-data folder, or None when it is absent.

    Reads the environment variable ``ORSTREAM_DATA`` (a folder); when it is unset or empty, the
    default is ``../shared/data`` relative to the repository root. Returns None when the folder
    does not exist, so that callers fall back to procedural content.
    """
    env = os.environ.get(_ENV, "").strip()
    path = Path(env).expanduser() if env else _REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def data_path(*parts: str) -> Path | None:
    """``data_dir() / parts...`` when that file or folder exists, else None."""
    root = data_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None
