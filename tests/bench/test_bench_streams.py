"""``orstream bench streams`` and the engine changes it relies on: batched segmentation across
streams and measurement windows per stream. Structure and correctness only, never speed."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from orstream.bench import streams
from orstream.pipelines import EchoMeasureStage, EchoSegmentStage
from orstream.sim import make_simulator
from orstream.sim import sim_frame_to_frame as to_frame
from orstream.stream import Frame, IterableSource, Pipeline


def _clip_frames(seeds: list[int], n: int, hr_bpm: float | None = None) -> list[Frame]:
    """``n`` frames of each simulated device, interleaved as they would arrive."""
    sims = [make_simulator("echo", seed=s, **({"hr_bpm": hr_bpm} if hr_bpm else {})) for s in seeds]
    t0 = 1_700_000_000_000_000_000
    return [
        to_frame(sim, sim.render(i), f"echo-{k}", t0 + round(i * 1e9 / sim.fps))
        for i in range(n)
        for k, sim in enumerate(sims)
    ]


def test_a_batch_segments_exactly_as_one_frame_at_a_time() -> None:
    frames = _clip_frames([3, 4, 5], 3)
    alone = EchoSegmentStage("onnxruntime", workers=1)
    together = EchoSegmentStage("onnxruntime", workers=2)
    try:
        expected = [alone(f).results["lv_mask"].copy() for f in frames]
        for f in frames:
            f.results.clear()
        out = together.batch(frames)
    finally:
        together.close()
    assert out == frames
    for frame, mask in zip(frames, expected, strict=True):
        assert frame.results["lv_mask"].dtype == np.uint8
        assert np.array_equal(frame.results["lv_mask"], mask)


def test_measurements_keep_one_window_per_stream() -> None:
    truths = [make_simulator("echo", seed=s, hr_bpm=75.0).describe() for s in (11, 12)]
    frames = _clip_frames([11, 12], 150, hr_bpm=75.0)  # 3 s of each: 3.75 beats
    measure = EchoMeasureStage(every_s=0.0)
    pipeline = Pipeline(
        IterableSource(frames), [EchoSegmentStage("onnxruntime"), measure], live=False
    )
    summary = pipeline.run()
    assert summary["paths"]["process"]["frames"] == len(frames)
    result = measure.summary(final=True).to_json()
    assert set(result["streams"]) == {"echo-0", "echo-1"}
    for k, truth in enumerate(truths):
        mine = result["streams"][f"echo-{k}"]
        assert mine["beats"] >= 1
        assert abs(mine["heart_rate_bpm"] - 75.0) <= 5
        assert abs(mine["ef"] - truth["ef"]) <= 0.1
    assert all(b["stream"] in {"echo-0", "echo-1"} for b in result["beats"])


def test_two_streams_are_counted_frame_by_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    # a latency bound no real run can meet: the verdict is known whatever this machine does
    monkeypatch.setattr(streams, "P99_BOUND_MS", 0.0)
    case = streams.measure(2, 1.0)
    assert case["streams"] == 2 and case["errors"] == []
    frames = round(1.0 * streams.FPS)
    assert case["sent"] == 2 * frames
    assert [s["stream"] for s in case["per_stream"]] == ["echo-0", "echo-1"]
    for stream in case["per_stream"]:
        assert stream["sent"] == frames
        assert stream["processed"] + stream["drops"] == stream["sent"]
        assert stream["processed"] > 0
    assert case["processed"] == sum(s["processed"] for s in case["per_stream"])
    assert case["drops"] == sum(s["drops"] for s in case["per_stream"])
    lat = case["latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert case["batch_mean"] is not None and 1.0 <= case["batch_mean"] <= 2.0
    assert case["ok"] is False  # p99 > 0 ms: not held, with or without drops
    json.dumps(case, allow_nan=False)


def _case(n: int, drops: int = 0, p99: float = 10.0) -> dict[str, Any]:
    return {
        "streams": n, "sent": 50 * n, "processed": 50 * n - drops, "drops": drops,
        "fps_per_stream": {"min": 50.0, "mean": 50.0},
        "latency_ms": {"p50": 5.0, "p99": p99, "max": p99 + 1},
        "batch_mean": 1.5, "engine_cpu_cores": 0.5, "per_stream": [],
        "ok": drops == 0 and p99 <= streams.P99_BOUND_MS, "errors": [],
    }  # fmt: skip


def test_streams_grow_until_the_first_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[tuple[int, int | None]] = []

    def fake(
        n: int, duration_s: float, max_batch: int | None = None, workers: int | None = None
    ) -> dict[str, Any]:
        assert (max_batch, workers) in ((None, None), (1, 1))
        measured.append((n, max_batch))
        return _case(n, drops=3 if n == 5 or max_batch == 1 else 0)

    monkeypatch.setattr(streams, "measure", fake)
    report = streams.run(duration_s=1.0, max_streams=8)
    assert measured == [(n, b) for n in range(1, 6) for b in (None, 1)]  # each N both ways
    assert report["most_streams_held"] == 4 and report["goal"]["met"]
    assert report["held"] == [1, 2, 3, 4]
    assert "3 dropped frames at 5 streams" in report["goal"]["stopped_by"]
    assert all(c["one_at_a_time"]["drops"] == 3 for c in report["cases"])
    text = streams.render(report)
    assert "most streams held: 4" in text and "FAILED" in text and "one frame at a time" in text

    measured.clear()
    report = streams.run(duration_s=1.0, max_streams=3, compare=False)
    assert measured == [(1, None), (2, None), (3, None)]  # max_streams reached, all held
    assert report["most_streams_held"] == 3 and report["goal"]["stopped_by"] is None

    monkeypatch.setattr(streams, "measure", lambda n, d: _case(n, p99=99.0 if n == 2 else 9.0))
    report = streams.run(duration_s=1.0, max_streams=8, compare=False)
    assert report["most_streams_held"] == 1 and not report["goal"]["met"]
    assert "p99 99.0 ms" in report["goal"]["stopped_by"]
