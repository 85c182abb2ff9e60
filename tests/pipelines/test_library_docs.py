"""docs/library.md's examples, run as they are written there."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "library.md"


def _blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [b for b in blocks if "register_source(" not in b]  # the last one is a sketch


def _run(code: str, where: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.chdir(where)
    scope: dict[str, object] = {"__name__": "library_doc"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, str(DOC), "exec"), scope)
    return scope


def test_the_page_has_the_two_examples() -> None:
    assert len(_blocks()) == 2


def test_engine_example_writes_a_tip_per_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = _run(_blocks()[0], tmp_path, monkeypatch)
    summary = scope["summary"]
    lines = [json.loads(line) for line in (tmp_path / "tips.jsonl").read_text().splitlines()]
    processed = summary.paths["live"]["frames"]  # type: ignore[attr-defined]
    assert processed >= 30 and len(lines) == processed
    assert all(0.0 <= line["results"]["tip"]["confidence"] <= 1.0 for line in lines)
    found = [line for line in lines if line["results"]["tip"]["found"]]
    assert len(found) >= processed // 2
    assert summary.measurements["tip_error_mm"]["median"] < 2.0  # type: ignore[attr-defined]


def test_custom_stage_example_measures_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = _run(_blocks()[1], tmp_path, monkeypatch)
    lines = [json.loads(line) for line in (tmp_path / "lv.jsonl").read_text().splitlines()]
    assert len(lines) == scope["run"]["paths"]["live"]["frames"] >= 200  # type: ignore[index]
    assert all("small_lv" in line["results"] for line in lines)
    areas = [line["results"]["lv"]["area_mm2"] for line in lines]
    assert sum(a is not None and a < 1800.0 for a in areas) == scope["flag"].flagged  # type: ignore[attr-defined]
    ef = scope["measure"].summary(final=True).ef  # type: ignore[attr-defined]
    assert ef is not None and abs(ef - 0.45) < 0.08
