"""Safety gate settings: the shipped default, the documented probe example, and one clear error
line naming the key for each thing a file can get wrong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import orstream.policies
from orstream.policies import (
    SETTINGS_VERSION,
    AxisLimits,
    GateSettings,
    GateSettingsError,
    SafetyGate,
    load_gate_settings,
    parse_gate_settings,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
version = 1

[gate]
max_frame_age_ms = 100.0
max_clock_skew_ms = 10.0
min_confidence = 0.5
deadman_ttl_ms = 250.0
workspace_lookahead_ms = 150.0
stop_after_faults = 3
fault_window_ms = 10000.0

[axes.advance]
unit = "mm"
max_rate = 10.0
max_accel = 50.0
min_position = 0.0
max_position = 300.0
"""


def test_the_shipped_default_is_the_documented_catheter_robot() -> None:
    settings = load_gate_settings()
    assert settings == load_gate_settings(Path(orstream.policies.__file__).parent / "gate.toml")
    assert (settings.max_frame_age_ms, settings.min_confidence, settings.deadman_ttl_ms) == (
        100.0, 0.5, 250.0,
    )  # fmt: skip
    assert [(a.name, a.rate_unit) for a in settings.axes] == [
        ("advance", "mm/s"), ("rotate", "rad/s"),
    ]  # fmt: skip
    assert settings.axis("advance").max_rate == 10.0
    assert settings.to_json()["version"] == SETTINGS_VERSION == 1
    assert SafetyGate().settings == settings


def test_the_probe_robot_example_of_the_doc_loads_and_runs() -> None:
    doc = (ROOT / "docs" / "safety-gate.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    probe = next(block for block in blocks if "[axes.translate_x]" in block)
    settings = parse_gate_settings(probe, "probe.toml")
    assert [a.name for a in settings.axes] == [
        "translate_x", "translate_y", "translate_z", "tilt", "rotate",
    ]  # fmt: skip
    assert {a.unit for a in settings.axes} == {"mm", "rad"}
    SafetyGate(settings)


def test_the_minimal_file_of_these_tests_is_valid() -> None:
    assert parse_gate_settings(GOOD).axes == (AxisLimits("advance", "mm", 10.0, 50.0, 0.0, 300.0),)


BROKEN = [
    ("version = 1", "", "gate.toml: version is missing"),
    ("version = 1", "version = 2", "gate.toml: version must be 1"),
    ("version = 1", "version = true", "gate.toml: version must be 1"),
    ("version = 1", "version = 1\nextra = 3", "gate.toml: unknown key extra (known: version, "),
    ("[gate]\n", "[gate]\nmax_age_ms = 1.0\n", "gate.toml: unknown key gate.max_age_ms"),
    ("min_confidence = 0.5\n", "", "gate.toml: gate.min_confidence is missing"),
    ("max_frame_age_ms = 100.0", "max_frame_age_ms = 0",
     "gate.toml: gate.max_frame_age_ms must be > 0 and finite (got 0.0)"),
    ("max_frame_age_ms = 100.0", 'max_frame_age_ms = "100"',
     "gate.toml: gate.max_frame_age_ms must be a number (got '100')"),
    ("max_frame_age_ms = 100.0", "max_frame_age_ms = nan",
     "gate.toml: gate.max_frame_age_ms must be a finite number (got nan)"),
    ("max_frame_age_ms = 100.0", "max_frame_age_ms = inf",
     "gate.toml: gate.max_frame_age_ms must be a finite number (got inf)"),
    ("max_clock_skew_ms = 10.0", "max_clock_skew_ms = -1",
     "gate.toml: gate.max_clock_skew_ms must be >= 0"),
    ("min_confidence = 0.5", "min_confidence = 1.5",
     "gate.toml: gate.min_confidence must be within 0-1 (got 1.5)"),
    ("deadman_ttl_ms = 250.0", "deadman_ttl_ms = false",
     "gate.toml: gate.deadman_ttl_ms must be a number (got False)"),
    ("workspace_lookahead_ms = 150.0", "workspace_lookahead_ms = 50.0",
     "gate.toml: gate.workspace_lookahead_ms must be >= gate.max_frame_age_ms (got 50.0)"),
    ("stop_after_faults = 3", "stop_after_faults = 0",
     "gate.toml: gate.stop_after_faults must be >= 1 (got 0)"),
    ("stop_after_faults = 3", "stop_after_faults = 2.5",
     "gate.toml: gate.stop_after_faults must be a whole number (got 2.5)"),
    ("fault_window_ms = 10000.0", "fault_window_ms = -5.0",
     "gate.toml: gate.fault_window_ms must be > 0"),
    ("[gate]\n", "gate = 3\n[gatex]\n", "gate.toml: unknown key gatex"),
    ("max_rate = 10.0", "max_rate = 0",
     "gate.toml: axes.advance.max_rate must be > 0 and finite (got 0.0)"),
    ("max_accel = 50.0", "max_accel = -50.0",
     "gate.toml: axes.advance.max_accel must be > 0 and finite (got -50.0)"),
    ('unit = "mm"', 'unit = "deg"', "gate.toml: axes.advance.unit must be one of mm, rad"),
    ('unit = "mm"', 'unit = "mm"\nspeed = 3', "gate.toml: unknown key axes.advance.speed"),
    ("max_accel = 50.0\n", "", "gate.toml: axes.advance.max_accel is missing"),
    ("max_position = 300.0", "max_position = 0.0",
     "gate.toml: axes.advance.max_position must be > min_position (got 0.0)"),
    ("min_position = 0.0", "min_position = -inf",
     "gate.toml: axes.advance.min_position must be a finite number"),
    ("[axes.advance]", "[axes.Advance]", "gate.toml: axes.Advance must be named in [a-z0-9_]"),
    ("[axes.advance]", "[axes]\n[notaxes]", "gate.toml: unknown key notaxes"),
    ("[axes.advance]", "[axes]\nadvance = 1\n[x]",  "gate.toml: unknown key x"),
    ("max_rate = 10.0", "max_rate = 10.0 10.0", "gate.toml: not valid TOML: "),
]  # fmt: skip


@pytest.mark.parametrize("old, new, message", BROKEN, ids=[m for _, _, m in BROKEN])
def test_a_broken_file_gives_one_line_naming_the_key(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(GateSettingsError) as caught:
        parse_gate_settings(GOOD.replace(old, new, 1))
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_an_axis_that_is_not_a_table_and_no_axes_at_all_are_errors() -> None:
    with pytest.raises(GateSettingsError, match=r"^gate.toml: axes must be a table \(got 5\)"):
        parse_gate_settings(
            GOOD.split("[axes.advance]", maxsplit=1)[0].replace("[gate]", "axes = 5\n[gate]")
        )
    with pytest.raises(GateSettingsError, match=r"^gate.toml: axes.advance must be a table"):
        parse_gate_settings(GOOD.split("[axes.advance]", maxsplit=1)[0] + "[axes]\nadvance = 1\n")
    with pytest.raises(GateSettingsError, match=r"^gate.toml: axes must declare at least one"):
        parse_gate_settings(GOOD.split("[axes.advance]", maxsplit=1)[0] + "[axes]\n")


def test_a_file_names_itself_in_the_error_and_a_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "robot-gate.toml"
    path.write_text(GOOD.replace("max_rate = 10.0", "max_rate = -1.0"))
    with pytest.raises(GateSettingsError, match=r"^robot-gate.toml: axes.advance.max_rate must"):
        load_gate_settings(path)
    with pytest.raises(GateSettingsError, match=r"^nowhere.toml: cannot read: "):
        load_gate_settings(tmp_path / "nowhere.toml")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(GateSettingsError, match=r"^robot-gate.toml: not UTF-8 text"):
        load_gate_settings(path)


def test_settings_built_in_python_are_checked_the_same_way() -> None:
    axis = AxisLimits("advance", "mm", 10.0, 50.0, 0.0, 300.0)
    base = load_gate_settings()
    with pytest.raises(GateSettingsError, match=r"^axes.advance is declared twice"):
        GateSettings((axis, axis), 100.0, 10.0, 0.5, 250.0, 150.0, 3, 10_000.0)
    with pytest.raises(GateSettingsError, match=r"^gate.stop_after_faults must be >= 1"):
        GateSettings((axis,), 100.0, 10.0, 0.5, 250.0, 150.0, 0, 10_000.0)
    with pytest.raises(GateSettingsError, match=r"^axes.advance.max_rate must be > 0"):
        AxisLimits("advance", "mm", float("nan"), 50.0, 0.0, 300.0)
    with pytest.raises(KeyError):
        base.axis("lateral")
