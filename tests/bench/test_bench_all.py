"""``orstream bench all`` (reports, pages, charts, index) and ``orstream bench overhead``."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import cv2
import pytest

from orstream.bench import BENCHMARKS, CHART_SHAPE, overhead, plots_for, sim
from orstream.bench import all as bench_all
from tests._helpers import orstream_main


@pytest.fixture
def no_holoscan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No interpreter that imports Holoscan (the overhead benchmark then measures ours only)."""
    missing = [str(tmp_path / name) for name in ("no-python", "nor-this", "nor-that")]
    monkeypatch.setattr(overhead, "holoscan_candidates", lambda: missing)


@pytest.mark.usefixtures("no_holoscan")
def test_every_new_benchmark_is_a_subcommand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``orstream bench all --quick --out DIR --json`` through the real parser: the flags take
    effect (quick runs, files in DIR). Only the overhead benchmark runs, to keep it short."""
    assert {"e2e", "streams", "overhead", "all"} <= set(BENCHMARKS)
    assert "all" not in bench_all.benchmark_names()
    monkeypatch.setattr(bench_all, "run", functools.partial(bench_all.run, names=["overhead"]))
    out = tmp_path / "reports"
    assert orstream_main("bench", "all", "--quick", "--out", str(out), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["command"] == f"orstream bench all --json --quick --out {out}"
    assert report["errors"] == [] and [b["name"] for b in report["benchmarks"]] == ["overhead"]
    assert {p.name for p in out.iterdir()} >= {"overhead.json", "overhead.md", "README.md"}
    data = json.loads((out / "overhead.json").read_text())
    assert data["command"] == "orstream bench overhead --json --quick"  # --quick went through


@pytest.mark.usefixtures("no_holoscan")
def test_all_writes_report_page_charts_and_index_and_keeps_hand_written_text(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    page = out / "overhead.md"
    page.write_text("# Framework overhead\n\nProse written by hand.\n")
    for _ in range(2):  # the second run replaces the generated part, it does not add one
        report = bench_all.run(quick=True, out_dir=out, names=["overhead"])
        assert report["errors"] == [] and [b["name"] for b in report["benchmarks"]] == ["overhead"]
    text = page.read_text()
    assert text.startswith("# Framework overhead\n\nProse written by hand.\n")
    assert text.count(bench_all.BEGIN) == 1 and text.count(bench_all.END) == 1
    assert "us/frame" in text and "![" in text and "**Machine:**" in text
    data = json.loads((out / "overhead.json").read_text())
    assert data["command"] == "orstream bench overhead --json --quick"
    image = cv2.imread(str(out / "overhead.png"))
    assert image is not None and image.shape == CHART_SHAPE
    index = (out / "README.md").read_text()
    assert "[overhead.md](overhead.md)" in index and "[overhead.png](overhead.png)" in index
    assert "`e2e`" in index and "not run yet" in index


@pytest.mark.usefixtures("no_holoscan")
def test_a_failing_benchmark_is_reported_and_the_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> dict[str, Any]:
        raise RuntimeError("no luck")

    monkeypatch.setattr(sim, "run", broken)
    out = tmp_path / "out"
    report = bench_all.run(quick=True, out_dir=out, names=["sim", "overhead"])
    assert report["errors"] == ["sim: RuntimeError: no luck"]
    assert (out / "overhead.json").exists() and not (out / "sim.json").exists()
    assert "overhead" in bench_all.render(report)
    with pytest.raises(ValueError, match="unknown benchmark"):
        bench_all.run(quick=True, out_dir=out, names=["nope"])


@pytest.mark.usefixtures("no_holoscan")
def test_overhead_measures_ours_and_says_why_holoscan_is_missing() -> None:
    report = overhead.run(quick=True)
    hs = report["holoscan"]
    assert not hs["available"] and len(hs["why_unavailable"]) == 3
    assert all("not found" in why for why in hs["why_unavailable"])
    assert [c["stages"] for c in report["cases"]] == list(overhead.STAGE_COUNTS)
    for case in report["cases"]:
        assert case["orstream_us"] > 0 and case["plain_loop_us"] > 0
        assert case["holoscan_us"] is None and case["ratio_to_holoscan"] is None
    assert report["per_stage_us"]["holoscan"] is None
    assert "holoscan unavailable" in overhead.render(report)
    json.dumps(report, allow_nan=False)


def test_charts_of_the_new_benchmarks_draw_from_their_reports(tmp_path: Path) -> None:
    machine = {"cpu": "test CPU", "cores": 2, "usable_cores": 2, "date": "2026-01-01"}
    lat = {"p50": 5.0, "p99": 9.0, "max": 12.0}
    e2e = {"machine": machine, "settings": {"fps": 50.0},
           "orstream": {"latency_ms": lat}, "imagezmq": {"latency_ms": lat}}  # fmt: skip
    case = {"streams": 1, "drops": 0, "fps_per_stream": {"min": 50.0}, "latency_ms": lat}
    streams = {"machine": machine, "settings": {"p99_bound_ms": 40.0, "fps": 50.0},
               "cases": [case, {**case, "streams": 2, "drops": 3}]}  # fmt: skip
    over = {"machine": machine, "cases": [
        {"stages": 1, "orstream_us": 10.0, "plain_loop_us": 0.2, "holoscan_us": None}]}  # fmt: skip
    charts = [
        *plots_for("e2e", e2e, tmp_path),
        *plots_for("streams", streams, tmp_path),
        *plots_for("overhead", over, tmp_path),
    ]
    assert [c for c, _ in charts] == [
        "e2e.png", "streams_latency.png", "streams_drops.png", "overhead.png"
    ]  # fmt: skip
    for name, _ in charts:
        assert cv2.imread(str(tmp_path / name)) is not None


def test_overhead_measures_holoscan_where_an_interpreter_has_it() -> None:
    python, probe = overhead.find_holoscan()
    if python is None:
        pytest.skip("no interpreter imports holoscan: " + "; ".join(probe["why"]))
    report = overhead.run(quick=True)
    assert report["holoscan"]["available"] and report["holoscan"]["version"]
    for case in report["cases"]:
        assert case["holoscan_us"] > 0 and case["ratio_to_holoscan"] > 0
    assert report["errors"] == []
