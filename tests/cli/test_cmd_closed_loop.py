"""The closed loop's command-line options (``orstream run --policy --roadmap --repress``,
``orstream sim publish --robot --robot-timeout --roadmap-out``): each misuse is exit 2 with
one error line; ``--roadmap-out`` writes the device's roadmap for ``run --roadmap``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from orstream.sim import RobotFluoroSimulator, read_roadmap, write_roadmap
from tests._helpers import free_port, orstream_main, orstream_spawn


def one_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    """The one ``orstream COMMAND: error:`` line on stderr (and nothing else there)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"orstream {command}: error: "), err
    return lines[0]


def loopback() -> str:
    return f"zmq+tcp://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def good_roadmap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("roadmap") / "roadmap.json"
    write_roadmap(RobotFluoroSimulator(0, size=(256, 256)).roadmap(), path)
    return path


def robots_alive() -> set[int]:
    """The simulated robots' receive threads alive now (their ids)."""
    return {t.ident or 0 for t in threading.enumerate() if t.name == "sim-robot"}


def run_args(*more: str) -> tuple[str, ...]:
    return ("run", "--source", "sim:fluoro?frames=1", "--pipeline", "none", *more)


@pytest.mark.parametrize(
    "option", [("--policy", "shipped"), ("--roadmap", "r.json"), ("--repress", "500")]
)
def test_closed_loop_options_without_robot_are_one_error(
    capsys: pytest.CaptureFixture[str], option: tuple[str, str]
) -> None:
    assert orstream_main(*run_args(*option)) == 2
    assert "need --robot" in one_error(capsys, "run")


def test_a_policy_without_a_roadmap_is_one_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = orstream_main(
        *run_args("--robot", loopback(), "--robot-control", "none", "--policy", "shipped")
    )
    assert code == 2
    assert "roadmap" in one_error(capsys, "run")


def test_a_roadmap_without_a_policy_is_one_error(
    capsys: pytest.CaptureFixture[str], good_roadmap: Path
) -> None:
    code = orstream_main(
        *run_args("--robot", loopback(), "--robot-control", "none", "--roadmap", str(good_roadmap))
    )
    assert code == 2
    assert "policy" in one_error(capsys, "run")


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"\x00\xff\xfe garbage", json.dumps({"format": "other"}).encode()],
)
def test_a_corrupt_roadmap_is_one_error_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "corrupt-roadmap.json"
    path.write_bytes(content)
    code = orstream_main(
        *run_args(
            "--robot", loopback(), "--robot-control", "none",
            "--policy", "shipped", "--roadmap", str(path),
        )
    )  # fmt: skip
    assert code == 2
    assert str(path) in one_error(capsys, "run")


def test_a_missing_policy_file_is_one_error_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_roadmap: Path
) -> None:
    missing = tmp_path / "no-such-policy.onnx"
    code = orstream_main(
        *run_args(
            "--robot", loopback(), "--robot-control", "none",
            "--policy", str(missing), "--roadmap", str(good_roadmap),
        )
    )  # fmt: skip
    assert code == 2
    assert str(missing) in one_error(capsys, "run")


def test_a_negative_repress_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert orstream_main(*run_args("--robot", loopback(), "--repress", "-5")) == 2
    assert "--repress" in capsys.readouterr().err


def test_sim_publish_robot_needs_fluoro(capsys: pytest.CaptureFixture[str]) -> None:
    code = orstream_main("sim", "publish", "--modality", "echo", "--robot", loopback(),
                         "--frames", "1")  # fmt: skip
    assert code == 2
    assert "--modality fluoro" in one_error(capsys, "sim")


def test_sim_publish_roadmap_out_needs_robot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "roadmap.json"
    code = orstream_main("sim", "publish", "--modality", "fluoro", "--roadmap-out", str(out),
                         "--frames", "1")  # fmt: skip
    assert code == 2
    assert "--roadmap-out needs --robot" in one_error(capsys, "sim")
    assert not out.exists()


def test_sim_publish_robot_timeout_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    code = orstream_main("sim", "publish", "--modality", "fluoro", "--robot", loopback(),
                         "--robot-timeout", "0")  # fmt: skip
    assert code == 2
    assert "--robot-timeout" in capsys.readouterr().err


def test_sim_publish_robot_writes_the_device_s_roadmap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "device-roadmap.json"
    before = robots_alive()
    code = orstream_main(
        "sim", "publish", "--modality", "fluoro", "--seed", "3", "--robot", loopback(),
        "--roadmap-out", str(out), "--endpoint", f"{loopback()}?bind=1", "--frames", "2",
        "--warmup", "0", "--json",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    written = read_roadmap(out)
    loop = summary["truth"]["closed_loop"]
    assert written.target == loop["target_node"]
    assert list(written.target_px) == pytest.approx(loop["target_px"], abs=0.01)
    assert written.to_json() == RobotFluoroSimulator(3).roadmap().to_json()
    assert robots_alive() <= before  # the robot it started is closed at the end


LEAK_PROBE = """
import sys, threading
from tests._helpers import orstream_main
code = orstream_main(*sys.argv[1:])
print("threads", code, sorted(t.name for t in threading.enumerate() if t.is_alive()))
"""
"""``orstream ARGS`` in a process of its own, then the threads still alive after it returned
(the process ends anyway: what it leaks stays out of the test's process)."""


def test_sim_publish_closes_the_robot_when_the_frame_endpoint_is_bad() -> None:
    args = ("sim", "publish", "--modality", "fluoro", "--robot", loopback(),
            "--endpoint", "bogus://nowhere", "--frames", "1")  # fmt: skip
    process = orstream_spawn(*args, python_args=("-c", LEAK_PROBE))
    out, err = process.communicate(timeout=120)
    assert "bogus://nowhere" in err and len(err.strip().splitlines()) == 1
    assert "threads 2 " in out
    assert "sim-robot" not in out
