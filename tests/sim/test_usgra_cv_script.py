"""``scripts/usgra_cv.py score``: pooling the held-out folds' per-image Dice (fabricated
reports; the training itself is exercised by ``train seg`` tests)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("torch")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "usgra_cv.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("usgra_cv", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["usgra_cv"] = module
    spec.loader.exec_module(module)
    return module


def _report(fold: int, dice: list[tuple[float | None, float | None]]) -> dict[str, object]:
    per_image = [
        {"name": f"{fold}-{i}", "dice": {"nerve": n, "vessel": v}, "confidence": {}}
        for i, (n, v) in enumerate(dice)
    ]
    means = {
        c: sum(x for x in vals if x is not None) / max(1, sum(x is not None for x in vals))
        for c, vals in zip(("nerve", "vessel"), zip(*dice, strict=True), strict=True)
    }
    return {
        "train_s": 10.0,
        "test": {
            "fold": fold,
            "frames": len(dice),
            "dice": {c: {"mean": m} for c, m in means.items()},
            "per_image": per_image,
        },
    }


def test_score_pools_every_held_out_image_and_skips_absent_classes(tmp_path: Path) -> None:
    cv = _script()
    folds = {0: [(0.5, 1.0), (0.7, None)], 1: [(0.9, 0.0)], 2: [(0.1, 0.5)]}
    for fold, dice in folds.items():
        path = tmp_path / "deep" / f"fold-{fold}" / "report.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_report(fold, dice)))
    result = cv.score(tmp_path)
    deep = result["deep"]
    assert not deep["complete"] and sorted(deep["folds"]) == [0, 1, 2]
    assert deep["folds"][0]["nerve"] == pytest.approx(0.6)
    pooled = deep["pooled"]
    assert pooled["nerve"]["n"] == 4 and pooled["nerve"]["mean"] == pytest.approx(0.55)
    assert pooled["vessel"]["n"] == 3 and pooled["vessel"]["mean"] == pytest.approx(0.5)
