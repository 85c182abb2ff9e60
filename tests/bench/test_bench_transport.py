"""``orstream bench transport``: report structure and sane values in quick mode.

Never asserts on speed: CI must not be gated on a wall-clock figure.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orstream.bench import transport
from orstream.bench.transport import goals, render
from orstream.stream import shm_available
from tests._helpers import orstream_main

HAS_IMAGEZMQ = transport.module_version("imagezmq") is not None
HAS_SHM = shm_available()
OURS = ["orstream", "orstream-shm"] if HAS_SHM else ["orstream"]


@pytest.fixture(scope="module")
def quick_report() -> dict[str, Any]:
    # The smallest (below the 512 KiB shared-memory threshold) and the largest frame: about
    # 20 s for the three transports.
    return transport.run(quick=True, kinds=("echo", "rgb1080p"))


def _check_measurement(result: dict[str, Any]) -> None:
    assert "error" not in result, result.get("error")
    assert result["received"] > 1
    assert result["fps"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    for window in ("p50_first_ms", "p50_last_ms"):  # a window may see no frame on a busy host
        assert result[window] is None or result[window] > 0
    assert (result["sent"] or 0) >= 1, result.get("sender_error")
    assert set(result["peak_rss_mib"]) == {"sender", "receiver"}


def test_quick_report_structure(quick_report: dict[str, Any]) -> None:
    report = quick_report
    assert report["benchmark"] == "transport"
    machine = report["machine"]
    for key in ("cpu", "cores", "python", "pyzmq", "libzmq", "imagezmq", "date"):
        assert key in machine
    assert report["settings"]["quick"] is True
    assert [c["frame"] for c in report["cases"]] == ["echo", "rgb1080p"]
    transports = OURS + (["imagezmq"] if HAS_IMAGEZMQ else [])
    assert report["transports"] == transports
    assert report["labels"]["orstream"] == "orstream-tcp"
    assert set(report["peers"]) == {"orstream", "orstream-shm", "imagezmq"}
    for case in report["cases"]:
        for name in transports:
            # quick mode skips the unpaced slow receiver (imagezmq's queue grows to GBs)
            assert set(case[name]) == {"sustained", "paced", "slow"}
            for result in case[name].values():
                _check_measurement(result)
        for name in OURS:
            for result in case[name].values():
                assert result["overruns"] >= 0 and result["stale_dropped"] >= 0
                # each frame the consumer got came off the socket or out of the ring
                assert result["wire_received"] + result["followed"] >= result["received"]
                assert result["ring_only"] >= 0  # sent with no socket message at all
            paced = case[name]["paced"]
            assert "wire_p50_ms" in paced
            assert paced["wire_p50_ms"] <= paced["p99_ms"]
        assert "overwritten" not in case["orstream"]["paced"]  # payloads on the socket
        if HAS_SHM:
            shm = case["orstream-shm"]
            for mode, result in shm.items():
                assert result["overwritten"] >= 0
                assert ("overwritten_during_work" in result) == (mode == "slow")
    json.dumps(report, allow_nan=False)  # one JSON document, no NaN


@pytest.mark.skipif(not HAS_IMAGEZMQ, reason="imagezmq not installed (orstream[bench])")
def test_quick_report_ratios_and_goals(quick_report: dict[str, Any]) -> None:
    for case in quick_report["cases"]:
        for key in ["ratios", "ratios_shm"][: len(OURS)]:
            ratios = case[key]
            for name in ("sustained_fps", "paced_p50", "paced_p99", "slow_p50_last"):
                assert ratios[name] is not None and ratios[name] > 0
            assert ratios["slow_unpaced_p50_last"] is None
    result = quick_report["goals"]
    assert result["checks"]
    assert all(isinstance(c["met"], bool) for c in result["checks"])
    # echo: flat latency (slow); rgb1080p: p99, fps, flat latency
    assert [c["transport"] for c in result["checks"]].count("orstream") == 4
    assert set(result["met_by_transport"]) == set(OURS)
    assert result["recommended"] == {"same_host": "orstream-shm", "cross_host": "orstream"}
    text = render(quick_report)
    assert "ours / imagezmq" in text and "rgb1080p" in text
    assert "orstream-tcp" in text and "recommended: orstream-shm on one host" in text
    if HAS_SHM:
        assert "orstream-shm" in text and "overwritten" in text


def _fake_case(frame: str, fps: float, p99: float, growth: float) -> dict[str, Any]:
    ours = {"sustained": {}, "paced": {}, "slow": {"growth_ms": growth}}
    ratios = {"sustained_fps": fps, "paced_p99": p99}
    return {"frame": frame, "orstream": ours, "orstream-shm": ours, "imagezmq": {}} | {
        "ratios": ratios,
        "ratios_shm": {"sustained_fps": fps * 2, "paced_p99": p99 / 2},
    }


def test_goals_judge_each_of_ours_on_its_own_ratios() -> None:
    report = {
        "settings": {"slow_consumer_fps": 15.0},
        "cases": [_fake_case("echo", 0.2, 2.0, 1.0), _fake_case("fluoro", 1.0, 0.8, 1.0)],
    }
    result = goals(report)
    by_transport = {
        t: {c["goal"].split(" ")[0]: c["met"] for c in result["checks"] if c["transport"] == t}
        for t in ("orstream", "orstream-shm")
    }
    # echo only has the flat-latency goal; fluoro: fps 1.0x/2.0x, p99 0.8x/0.4x
    assert by_transport == {
        "orstream": {"p99": False, "sustained": False, "flat": True},
        "orstream-shm": {"p99": True, "sustained": True, "flat": True},
    }
    assert result["met_by_transport"] == {"orstream": False, "orstream-shm": True}
    assert result["all_met"] is False


def test_without_imagezmq_or_shm_reports_tcp_with_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    real = transport.module_version

    def fake(name: str) -> str | None:
        return None if name == "imagezmq" else real(name)

    monkeypatch.setattr(transport, "module_version", fake)
    monkeypatch.setattr(transport, "shm_available", lambda: False)
    lines: list[str] = []
    report = transport.run(quick=True, kinds=("echo",), progress=lines.append)
    assert "imagezmq is not installed" in lines[0] and "orstream[bench]" in lines[0]
    assert "skipping orstream-shm" in lines[1]
    (case,) = report["cases"]
    assert report["transports"] == ["orstream"]
    assert "imagezmq" not in case and "orstream-shm" not in case and "ratios" not in case
    _check_measurement(case["orstream"]["paced"])
    assert "pip install 'orstream[bench]'" in report["peers"]["imagezmq"]
    assert report["peers"]["orstream-shm"].startswith("skipped")
    assert report["goals"] is None
    assert "pip install" in render(report)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown frame kind"):
        transport.run(quick=True, kinds=("mri",))
    with pytest.raises(ValueError, match="positive"):
        transport.run(duration_s=0)


def test_cli_json_prints_one_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        kwargs["progress"]("a progress line")
        return {"benchmark": "transport", "cases": [{"frame": "echo", "orstream": {}}]}

    monkeypatch.setattr(transport, "run", fake_run)
    assert orstream_main("bench", "transport", "--json", "--quick", "--duration", "2") == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["benchmark"] == "transport"
    assert document["command"] == "orstream bench transport --json --quick --duration 2"
    assert "a progress line" in err
    assert calls[0]["quick"] is True and calls[0]["duration_s"] == 2.0


def test_cli_rejects_bad_duration(capsys: pytest.CaptureFixture[str]) -> None:
    assert orstream_main("bench", "transport", "--duration", "-1") == 2
    assert "duration" in capsys.readouterr().err
