"""``JsonLinesSink``: one parseable JSON line per frame, typed results through ``to_json``,
arrays and other non-JSON values left out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orstream.stream import (
    IterableSource,
    JsonLinesSink,
    Pipeline,
    make_frame,
    open_sink,
)


@dataclass(frozen=True)
class Measurement:
    ef: float
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {"ef": self.ef, "confidence": self.confidence}


class Broken:
    def to_json(self) -> dict[str, Any]:
        raise RuntimeError("cannot map")


def _lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_line_per_frame_with_typed_results_and_no_arrays(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "results.jsonl")
    frame = make_frame(np.zeros((4, 4), np.uint8), "a4c", 7, modality="echo")
    frame.results.update(
        {
            "ef": Measurement(0.55, 0.9),
            "mask": np.ones((4, 4), np.uint8),
            "count": np.int64(3),
            "ratio": np.float32(0.5),
            "unknown": float("nan"),
            "tags": ["lv", "a4c"],
            "nested": {"x": 1, "points": np.zeros((2, 2))},
            "object": object(),
            "mixed": [1, np.zeros(2)],
            "broken": Broken(),
        }
    )
    sink.write(frame)
    assert len(_lines(tmp_path / "results.jsonl")) == 1  # flushed before close
    sink.write(make_frame(np.zeros((4, 4), np.uint8), "a4c", 8, modality="echo"))
    sink.close()
    sink.close()  # idempotent
    first, second = _lines(tmp_path / "results.jsonl")
    assert set(first) == {"stream", "seq", "t_capture_ns", "modality", "latency_ms", "results"}
    assert (first["stream"], first["seq"], first["modality"]) == ("a4c", 7, "echo")
    assert first["t_capture_ns"] == frame.t_capture_ns and first["latency_ms"] >= 0
    assert first["results"] == {
        "ef": {"ef": 0.55, "confidence": 0.9},
        "count": 3,
        "ratio": 0.5,
        "unknown": None,
        "tags": ["lv", "a4c"],
        "nested": {"x": 1},
    }
    assert second["seq"] == 8 and second["results"] == {}
    assert sink.stats() == {"lines": 2, "errors": 1}
    with pytest.raises(ValueError, match="closed"):
        sink.write(frame)


def test_an_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("keep\n")
    with pytest.raises(FileExistsError):
        JsonLinesSink(path)
    assert path.read_text() == "keep\n"
    with JsonLinesSink(path, overwrite=True):
        pass
    assert path.read_text() == ""


def test_a_pipeline_writes_one_line_per_frame_that_reached_the_sinks(tmp_path: Path) -> None:
    class Measure:
        name = "measure"

        def __call__(self, frame: Any) -> Any:
            if frame.seq == 2:
                return None  # filtered: never reaches the sinks
            frame.results["ef"] = Measurement(0.5 + frame.seq / 100, 1.0)
            return frame

    frames = [make_frame(np.zeros((4, 4), np.uint8), "s", i) for i in range(5)]
    sink = open_sink(f"jsonl:{tmp_path / 'r.jsonl'}")
    Pipeline(IterableSource(frames), [Measure()], [sink]).run()
    lines = _lines(tmp_path / "r.jsonl")
    assert [line["seq"] for line in lines] == [0, 1, 3, 4]
    assert [line["results"]["ef"]["ef"] for line in lines] == [0.5, 0.51, 0.53, 0.54]
