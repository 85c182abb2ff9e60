"""The package's shape: orstream.* resolves for static tools, and the CLI lists its commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_mypy_resolves_orstream_names_from_outside_the_repository(tmp_path: Path) -> None:
    """An editable install must let static tools see ``orstream.stream`` etc., not only the
    import system (setuptools' default editable mode hides them behind an import hook)."""
    pytest.importorskip("mypy")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from orstream.stream import make_frame\n"
        "from orstream.sim import EchoSimulator\n"
        "reveal_type(make_frame)\n"
        "reveal_type(EchoSimulator)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-incremental",
         str(probe)],
        check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert "def (pixels:" in result.stdout, result.stdout
    assert "orstream.sim._echo.EchoSimulator" in result.stdout, result.stdout
    assert "import-not-found" not in result.stdout and "import-untyped" not in result.stdout


def test_the_cli_lists_the_contracted_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orstream", "--help"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    for command in ("demo", "run", "record", "replay", "sim", "measure", "bench", "doctor"):
        assert command in result.stdout
