"""Shared fixtures: the real-data folder (skips with its reason outside CI, fails in CI) and a
simulated echo clip on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orstream.sim import data_dir
from tests._helpers import orstream_cli


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


@pytest.fixture(scope="session")
def echo_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated A4C clip from ``orstream sim export`` (frames/, clip.dcm, truth.json): 100
    frames, EF 0.55, 75 bpm (2.6 beats), a seed the echo-lv model never saw. Tests may add
    files beside it (masks, reports) but never change or remove what the export wrote."""
    out = tmp_path_factory.mktemp("echo_clip")
    result = orstream_cli("sim", "export", "--modality", "echo", "--frames", "100", "--out",
                          str(out), "--ef", "0.55", "--hr", "75", "--seed", "90001")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out
