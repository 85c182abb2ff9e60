"""Every failure a user can cause on the command line ends in one line on stderr and a non-zero
exit; the commands share flag names (``--json``, ``--endpoint``, ``--out``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import zmq

from orstream.stream import RecordingReader, RecordingWriter, make_frame
from tests._helpers import FAILURE_BOUND_S, orstream_cli, orstream_main

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
    assert orstream_main(*args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], lines


def test_a_frame_rate_past_the_simulators_range_is_one_line(tmp_path: Path) -> None:
    result = orstream_cli("sim", "export", "--fps", "5000", "--frames", "1", "--out", str(tmp_path))
    _one_line_failure(result, "--fps 5000 is above 1000")
    assert result.returncode == 2


def _help_flags(*command: str, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The flags ``orstream COMMAND --help`` lists (each option's names, aliases included: what
    a user can pass; a hidden flag is not listed)."""
    capsys.readouterr()
    assert orstream_main(*command, "--help") == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: orstream {' '.join(command)}"), shown
    names = [m.group(1) for m in re.finditer(r"^  (-\S.*?)(?: {2,}|$)", shown, re.MULTILINE)]
    return {flag for name in names for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", name)}


SUMMARY_COMMANDS = ("record", "replay", "sim publish", "sim export", "measure", "segment",
                    "track", "keys generate", "doctor", "bench transport", "bench all")  # fmt: skip


def test_the_commands_share_flag_names(capsys: pytest.CaptureFixture[str]) -> None:
    for command in SUMMARY_COMMANDS:
        assert "--json" in _help_flags(*command.split(), capsys=capsys), command
    for command in ("sim publish", "replay"):  # where a command sends to
        assert "--endpoint" in _help_flags(*command.split(), capsys=capsys), command
    for command in ("record", "sim export", "keys generate", "segment", "bench all"):
        assert "--out" in _help_flags(*command.split(), capsys=capsys), command


def test_replay_still_takes_the_old_to_flag_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.orsrec"
    with RecordingWriter(path) as writer:
        for seq in range(3):
            writer.append(make_frame(np.full((4, 6), seq, np.uint8), "s", seq))
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    try:
        pull.bind("tcp://127.0.0.1:*")
        to = "zmq+" + pull.getsockopt_string(zmq.LAST_ENDPOINT)
        result = orstream_cli("replay", str(path), "--to", to, "--fast", "--json")
        assert result.returncode == 0, result.stderr
        got = []
        for _ in range(3):  # what --to named is where the frames went
            assert pull.poll(int(FAILURE_BOUND_S * 1000))
            got.append(pull.recv_multipart())
    finally:
        pull.close(0)
        context.term()
    summary = json.loads(result.stdout)
    assert summary["to"] == to and summary["frames"] == 3 and summary["complete"]
    with RecordingReader(path) as reader:
        assert got == [[m.header, bytes(m.payload)] for m in reader.messages()]
    assert orstream_main("replay", "--help") == 0
    shown = capsys.readouterr().out
    assert "--endpoint" in shown and "--to" not in shown
