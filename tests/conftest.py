"""Shared fixtures: the real-data folder (skips with its reason outside CI, fails in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orstream.sim._data import data_dir


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``ORSTREAM_DATA`` (default ``../shared/data``). Tests that need real data take this
    fixture: without the folder they skip, saying why, except in CI (``CI=true``) where a
    missing folder is a failure, so that no real-data test passes by being skipped."""
    path = data_dir()
    if path is None:
        reason = "real data not found: set ORSTREAM_DATA or put it in ../shared/data"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path
