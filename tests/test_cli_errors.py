"""Every failure a user can cause on the command line ends in one line on stderr and a non-zero
exit; the commands share flag names (``--json``, ``--endpoint``, ``--out``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from orstream.cli import build_parser, main
from tests._helpers import orstream_cli

TRAIN_HINT = "pip install 'orstream[train]'"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short simulated echo clip: ``frames/`` (PNG) and ``clip.dcm``."""
    out = tmp_path_factory.mktemp("clip")
    result = orstream_cli("sim", "export", "--frames", "3", "--out", str(out), "--seed", "2")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes find a ``torch`` that fails to import, as where it is not installed."""
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))


def _one_line_failure(result: object, expect: str) -> None:
    returncode, stderr = result.returncode, result.stderr  # type: ignore[attr-defined]
    assert returncode != 0, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], stderr


@pytest.mark.parametrize(
    "command",
    [
        "measure {clip}/clip.dcm --backend torch",
        "segment {clip}/frames --model echo-lv --masks-out {tmp}/m --backend torch",
        "track {clip}/frames --backend torch",
    ],
)
@pytest.mark.usefixtures("without_torch")
def test_the_torch_backend_without_torch_says_how_to_install_it(
    clip: Path, tmp_path: Path, command: str
) -> None:
    argv = command.format(clip=clip, tmp=tmp_path).split()
    _one_line_failure(orstream_cli(*argv), TRAIN_HINT)


@pytest.mark.parametrize(
    "command",
    [
        "run --source sim:echo?seed=1 --pipeline echo --backend torch --frames 1 --quiet",
        "train seg --model echo-lv --epochs 1 --samples 8 --batch-size 4 --val-samples 4 "
        "--test-samples 4 --out {tmp}/run",
    ],
)
@pytest.mark.usefixtures("without_torch")
def test_run_and_train_without_torch_say_how_to_install_it(tmp_path: Path, command: str) -> None:
    _one_line_failure(orstream_cli(*command.format(tmp=tmp_path).split()), TRAIN_HINT)


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["record", "--out", "o.orsrec", "--duration", "-1"], "'-1' must be a number > 0"),
        (["record", "--out", "o.orsrec", "--frames", "-3"], "'-3' must be >= 1"),
        (["sim", "publish", "--frames", "-1"], "'-1' must be >= 1"),
        (["sim", "publish", "--fps", "0"], "'0' must be a number > 0"),
        (["sim", "publish", "--fps", "nan"], "must be a finite number"),
        (["sim", "publish", "--warmup", "-1"], "'-1' must be a number >= 0"),
        (["sim", "export", "--frames", "-2", "--out", "x"], "'-2' must be >= 1"),
        (["sim", "export", "--frames", "2", "--fps", "0", "--out", "x"], "must be a number > 0"),
        (["demo", "--fps", "0"], "'0' must be a number > 0"),
        (["demo", "--duration", "-5"], "'-5' must be a number > 0"),
        (["run", "--source", "sim:echo", "--duration", "-1"], "must be a number > 0"),
        (["run", "--source", "sim:echo", "--frames", "0"], "'0' must be >= 1"),
        (["measure", "x.dcm", "--fps", "0"], "'0' must be a number > 0"),
        (["track", "x", "--fps", "-15"], "'-15' must be a number > 0"),
        (["track", "x", "--threads", "0"], "'0' must be >= 1"),
        (["segment", "x", "--model", "echo-lv", "--out", "m", "--batch-size", "0"], ">= 1"),
        (["replay", "x.orsrec", "--fast", "--realtime"], "not allowed with argument"),
        (["bench", "sim", "--duration", "-1"], "duration must be in (0, 3600]"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(
    args: list[str], expect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], lines


def test_a_frame_rate_past_the_simulators_range_is_one_line(tmp_path: Path) -> None:
    result = orstream_cli("sim", "export", "--fps", "5000", "--frames", "1", "--out", str(tmp_path))
    _one_line_failure(result, "--fps 5000 is above 1000")
    assert result.returncode == 2


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[str, object]:
    """``"sim publish"`` -> its parser, for every command that runs."""
    found: dict[str, object] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _leaves(sub, (*path, name))
    return found or {" ".join(path): parser}


def _flags(parser: object) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}  # type: ignore[attr-defined]


SUMMARY_COMMANDS = ("record", "replay", "sim publish", "sim export", "measure", "segment",
                    "track", "keys generate", "doctor", "bench transport", "bench all")  # fmt: skip


def test_the_commands_share_flag_names() -> None:
    leaves = _leaves(build_parser())
    for command in SUMMARY_COMMANDS:
        assert "--json" in _flags(leaves[command]), command
    for command in ("sim publish", "replay"):  # where a command sends to
        assert "--endpoint" in _flags(leaves[command]), command
    for command in ("record", "sim export", "keys generate", "segment", "bench all"):
        assert "--out" in _flags(leaves[command]), command


def test_replay_still_takes_the_old_to_flag_without_showing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["replay", "r.orsrec", "--to", "zmq+tcp://127.0.0.1:9"])
    assert args.endpoint == "zmq+tcp://127.0.0.1:9"
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    shown = capsys.readouterr().out
    assert "--endpoint" in shown and "--to" not in shown
