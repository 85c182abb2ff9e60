"""The package's shape: orstream.* resolves for static tools, the CLI lists its commands, and a
plain (non-editable) install carries the whole engine without torch."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("stream", "kernels", "sim", "policies", "pipelines", "cli")


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


def _choices(script: str, *command: str) -> set[str]:
    """The subcommands the installed ``orstream`` script dispatches under ``command``: the
    parser's own list, from the error an unknown subcommand gets (exit 2)."""
    result = subprocess.run(
        [script, *command, "no-such-command"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    found = re.search(r"invalid choice: 'no-such-command' \(choose from ([^)]*)\)", result.stderr)
    assert found, result.stderr
    return {name.strip().strip("'\"") for name in found.group(1).split(",")}


def test_the_installed_script_dispatches_the_contracted_commands() -> None:
    """The console script the package installs (entry point ``orstream.cli:main``) runs, and
    its parser dispatches every command of the contract (ARCHITECTURE.md, the command line)."""
    script = shutil.which("orstream", path=str(Path(sys.executable).parent))
    assert script is not None, "no orstream script beside this interpreter"
    assert _choices(script) >= {"demo", "run", "sim", "measure", "segment", "track", "train",
                                "eval", "record", "replay", "bench", "doctor"}  # fmt: skip
    assert _choices(script, "sim") >= {"publish", "export"}
    assert _choices(script, "bench") >= {"transport", "inference", "sim", "e2e"}
    for command in ("train", "eval"):
        assert "seg" in _choices(script, command)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip install .`` builds, from a copy of the sources (no stray build/)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("orstream", "stream", "kernels", "sim", "policies", "bench"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(src)],
        check=False, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("orstream-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_every_subpackage_and_the_models_but_no_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
    for package in PACKAGES:
        assert f"orstream/{package}/__init__.py" in names, package
    assert "orstream/policies/gate.toml" in names  # the safety gate's default settings
    for page in ("index.html", "login.html", "display.js", "display.css"):  # the OR display
        assert f"orstream/stream/display/{page}" in names, page
    for model in (ROOT / "kernels" / "models").glob("*.onnx"):
        assert f"orstream/kernels/models/{model.name}" in names
        assert f"orstream/kernels/models/{model.stem}.json" in names
    assert "orstream/py.typed" in names
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    assert b"orstream = orstream.cli:main" in entry_points
    requires = [line for line in metadata.decode().splitlines() if line.startswith("Requires-Dist")]
    assert "Requires-Dist: pydicom>=3" in requires
    assert all("extra ==" in line for line in requires if "torch" in line), requires


@pytest.mark.slow
def test_a_plain_install_imports_the_engine_without_torch(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(wheel)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    probe = (
        "import sys\n"
        "import orstream.stream, orstream.kernels\n"
        f"assert orstream.__file__.startswith({str(target)!r}), orstream.__file__\n"
        "assert 'torch' not in sys.modules, 'the engine imported torch'\n"
        "import orstream.sim, orstream.pipelines, orstream.cli\n"
        "orstream.cli.build_parser()  # every command module, as the demo's processes\n"
        "assert 'torch' not in sys.modules, 'the command line imported torch'\n"
        "print(orstream.kernels.load_model('echo-lv').onnx_path)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(target / "orstream" / "kernels" / "models"))
