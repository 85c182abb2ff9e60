"""Per-frame telemetry of the OR display: mask outlines, finite JSON, video timestamps."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from orstream.stream import frame_telemetry, mask_contours, video_pts


def test_a_rectangle_is_outlined_by_its_four_corners() -> None:
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 5:30] = 1
    outlines = mask_contours(mask)
    assert list(outlines) == ["1"]
    (outline,) = outlines["1"]
    assert sorted(map(tuple, outline)) == [(5, 10), (5, 19), (29, 10), (29, 19)]


def test_each_class_gets_its_outlines_and_an_empty_mask_none() -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[5:15, 5:15] = 1
    mask[30:40, 30:40] = 1
    mask[50:60, 2:12] = 2
    outlines = mask_contours(mask)
    assert sorted(outlines) == ["1", "2"]
    assert len(outlines["1"]) == 2 and len(outlines["2"]) == 1
    assert mask_contours(np.zeros((8, 8), bool)) == {}
    assert mask_contours(np.ones((8, 8), bool))["1"]  # bool masks are class 1


def test_a_round_mask_outline_is_simplified_and_stays_within_a_pixel() -> None:
    yy, xx = np.mgrid[:200, :200]
    mask = ((xx - 100) ** 2 + (yy - 90) ** 2 < 60**2).astype(np.uint8)
    (outline,) = mask_contours(mask)["1"]
    assert 8 < len(outline) < 120  # far fewer than the ~380 boundary pixels
    radii = [math.hypot(x - 100, y - 90) for x, y in outline]
    assert all(58 <= r <= 61 for r in radii)


@dataclass
class _Measured:
    value: float

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value}


class _Broken:
    def to_json(self) -> dict[str, Any]:
        raise RuntimeError("boom")


def test_telemetry_is_finite_json_with_results_masks_and_no_pixels() -> None:
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 1
    errors: list[str] = []
    doc = frame_telemetry(
        {"stream": "a", "seq": 3, "latency": float("inf")},
        {
            "lv": _Measured(float("nan")),
            "ef": np.float32(0.5),
            "lv_mask": mask,
            "probabilities": np.zeros((2, 16, 16), np.float32),  # not a mask: left out
            "bad": _Broken(),
            "note": "ok",
        },
        errors,
    )
    text = json.dumps(doc, allow_nan=False)  # raises on NaN/inf
    assert doc["latency"] is None
    assert doc["results"] == {"lv": {"value": None}, "ef": 0.5, "note": "ok"}
    assert list(doc["contours"]) == ["lv_mask"]
    assert errors == ["bad"]
    assert "probabilities" not in text


def test_video_timestamps_increase_and_tag_frames_apart() -> None:
    period_ns = 33_333_333
    t0 = 1_700_000_000_000_000_000
    pts = [video_pts(t0 + k * period_ns, k) for k in range(300)]
    assert all(b > a for a, b in itertools.pairwise(pts))
    spacings = [b - a for a, b in itertools.pairwise(pts)]
    assert len(set(spacings)) > 10  # a perfectly regular clock still gives varied spacings
    assert all(abs(p - (t0 + k * period_ns) * 9 // 100_000) <= 64 for k, p in enumerate(pts))
