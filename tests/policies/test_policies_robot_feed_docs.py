"""docs/robot-feed.md: the worked example runs as written (doctest), and the JSON messages it
shows have the keys the feed sends (envelope + the fields of each kind)."""

from __future__ import annotations

import doctest
import json
import re
from pathlib import Path

from orstream.policies import GuidanceLoop, GuidanceObservation, transition_fields
from orstream.stream import FEED_KINDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "robot-feed.md"
MS = 1_000_000
T0 = 1_700_000_000_000 * MS
ENVELOPE = {"v", "seq", "t_ns", "kind"}


def test_the_worked_example_runs_as_written() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, verbose=False)
    assert result.attempted >= 10
    assert result.failed == 0


def test_the_messages_shown_have_the_keys_the_feed_sends() -> None:
    shown = {
        message["kind"]: message
        for message in (
            json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)
        )
    }
    assert set(shown) == set(FEED_KINDS)
    loop = GuidanceLoop(pedal=True)
    transitions: list[dict[str, object]] = []
    loop.gate.subscribe(lambda t: transitions.append(transition_fields(t)))
    for seq in range(1, 5):
        capture = T0 + seq * 33 * MS
        observation = GuidanceObservation(
            seq, capture, (412.0, 388.5), 0.91, (440.0, 300.0), (0.3, 0.3)
        )
        command = loop.step(observation, capture + 20 * MS).to_json()
    heartbeat = loop.heartbeat(T0 + 172 * MS)
    assert shown["command"]["command"] == command["command"]
    assert shown["command"]["position"] == command["position"]
    assert shown["heartbeat"]["position"] == heartbeat["position"]
    for kind, fields in (
        ("command", command),
        ("heartbeat", heartbeat),
        ("transition", transitions[0]),
    ):
        assert set(shown[kind]) == ENVELOPE | set(fields), kind
