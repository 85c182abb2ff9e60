"""docs/safety-gate.md: the worked example runs as written (doctest) and the JSON shape shown
is the one ``GateDecision.to_json`` gives."""

from __future__ import annotations

import doctest
import json
import re
from pathlib import Path

from orstream.policies import GateCommand, SafetyGate

DOC = Path(__file__).resolve().parents[2] / "docs" / "safety-gate.md"
MS = 1_000_000


def test_the_worked_example_runs_as_written() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, verbose=False)
    assert result.attempted > 20
    assert result.failed == 0


def test_the_json_decision_of_the_doc_is_what_the_gate_gives() -> None:
    shown = json.loads(re.search(r"```json\n(.*?)```", DOC.read_text(), re.S).group(1))
    gate = SafetyGate()
    t0 = 1_700_000_000_000 * MS
    here = {"advance": 120.0, "rotate": 0.0}
    for seq, t_ms in ((1, 0), (2, 33), (3, 66)):
        command = GateCommand(seq, t0 + (t_ms - 25) * MS, 0.9, {"advance": 4.0}, here)
        decision = gate.submit(command, t0 + t_ms * MS).to_json()
        if seq == 1:
            gate.enable(t0 + 10 * MS)
    decision["velocity"]["advance"] = round(decision["velocity"]["advance"], 3)
    decision["clipped"][0]["allowed"] = round(decision["clipped"][0]["allowed"], 3)
    assert decision == shown
