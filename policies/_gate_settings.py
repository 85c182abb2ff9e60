"""Settings of the safety gate: a versioned TOML file (``version = 1``) into frozen dataclasses.

Every key is required, unknown keys are errors, and every value is checked at load time; a bad
file raises :class:`GateSettingsError` with one line that names the file and the key, e.g.
``gate.toml: axes.advance.max_rate must be > 0 (got 0)``. The shipped default is
``orstream/policies/gate.toml`` (a catheter robot: advance in mm, rotate in rad); the format is
in docs/safety-gate.md.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

SETTINGS_VERSION: Final = 1
"""The one settings version this gate reads."""

UNITS: Final = ("mm", "rad")
"""Position units an axis may declare; its velocity is unit/s, its acceleration unit/s²."""

_AXIS_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_TOP_KEYS = ("version", "gate", "axes")
_GATE_KEYS = (
    "max_frame_age_ms",
    "max_clock_skew_ms",
    "min_confidence",
    "deadman_ttl_ms",
    "workspace_lookahead_ms",
    "stop_after_faults",
    "fault_window_ms",
)
_AXIS_KEYS = ("unit", "max_rate", "max_accel", "min_position", "max_position")


GATE_PRESETS = {"default": "gate.toml", "fluoro": "gate-fluoro.toml"}
"""Shipped settings by name: the default (a 100 ms frame age), and fluoroscopy at 15 fps
(200 ms, three frame periods: docs/safety-gate.md, "Presets")."""


class GateSettingsError(ValueError):
    """A settings file (or value) the gate cannot run with; the message is one line."""


def _fail(key: str, rule: str, value: object) -> GateSettingsError:
    return GateSettingsError(f"{key} {rule} (got {value!r})")


@dataclass(frozen=True, slots=True)
class AxisLimits:
    """One commanded axis: its name, position ``unit`` (``"mm"`` or ``"rad"``), the largest
    speed ``max_rate`` (unit/s) and acceleration ``max_accel`` (unit/s²), and the workspace
    interval ``[min_position, max_position]`` (unit) its position must stay in."""

    name: str
    unit: Literal["mm", "rad"]
    max_rate: float
    max_accel: float
    min_position: float
    max_position: float

    def __post_init__(self) -> None:
        if not _AXIS_NAME.match(self.name):
            raise _fail(f"axes.{self.name}", "must be named in [a-z0-9_], starting a-z", self.name)
        key = f"axes.{self.name}"
        if self.unit not in UNITS:
            raise _fail(f"{key}.unit", f"must be one of {', '.join(UNITS)}", self.unit)
        for field_name in ("max_rate", "max_accel"):
            value = getattr(self, field_name)
            if not (math.isfinite(value) and value > 0):
                raise _fail(f"{key}.{field_name}", "must be > 0 and finite", value)
        for field_name in ("min_position", "max_position"):
            if not math.isfinite(getattr(self, field_name)):
                raise _fail(f"{key}.{field_name}", "must be finite", getattr(self, field_name))
        if not self.min_position < self.max_position:
            raise _fail(f"{key}.max_position", "must be > min_position", self.max_position)

    @property
    def rate_unit(self) -> str:
        """The unit of this axis' velocities: ``"mm/s"`` or ``"rad/s"``."""
        return f"{self.unit}/s"

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "max_rate": self.max_rate,
            "max_accel": self.max_accel,
            "min_position": self.min_position,
            "max_position": self.max_position,
        }


@dataclass(frozen=True, slots=True)
class GateSettings:
    """The gate's limits (the ``[gate]`` table) and its axes (``[axes.NAME]`` tables, in file
    order). Times in ms; ``min_confidence`` a fraction 0-1; ``stop_after_faults`` fault trips
    out of ACTIVE within ``fault_window_ms`` latch STOP."""

    axes: tuple[AxisLimits, ...]
    max_frame_age_ms: float
    max_clock_skew_ms: float
    min_confidence: float
    deadman_ttl_ms: float
    workspace_lookahead_ms: float
    stop_after_faults: int
    fault_window_ms: float

    def __post_init__(self) -> None:
        if not self.axes:
            raise GateSettingsError("axes must declare at least one axis ([axes.NAME])")
        names = [axis.name for axis in self.axes]
        for name in names:
            if names.count(name) > 1:
                raise _fail(f"axes.{name}", "is declared twice", name)
        positive = ("max_frame_age_ms", "deadman_ttl_ms", "fault_window_ms")
        for field_name in positive:
            value = getattr(self, field_name)
            if not (math.isfinite(value) and value > 0):
                raise _fail(f"gate.{field_name}", "must be > 0 and finite", value)
        if not (math.isfinite(self.max_clock_skew_ms) and self.max_clock_skew_ms >= 0):
            raise _fail("gate.max_clock_skew_ms", "must be >= 0 and finite", self.max_clock_skew_ms)
        if not 0.0 <= self.min_confidence <= 1.0:
            raise _fail("gate.min_confidence", "must be within 0-1", self.min_confidence)
        lookahead = self.workspace_lookahead_ms
        if not (math.isfinite(lookahead) and lookahead >= self.max_frame_age_ms):
            rule = "must be >= gate.max_frame_age_ms"
            raise _fail("gate.workspace_lookahead_ms", rule, lookahead)
        if isinstance(self.stop_after_faults, bool) or self.stop_after_faults < 1:
            raise _fail("gate.stop_after_faults", "must be >= 1", self.stop_after_faults)

    def axis(self, name: str) -> AxisLimits:
        """The limits of axis ``name`` (KeyError if the settings do not declare it)."""
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The settings as the TOML file holds them (for a feed to publish once)."""
        gate = {key: getattr(self, key) for key in _GATE_KEYS}
        axes = {axis.name: axis.to_json() for axis in self.axes}
        return {"version": SETTINGS_VERSION, "gate": gate, "axes": axes}


def _check_keys(table: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in known:
            raise GateSettingsError(f"unknown key {prefix}{key} (known: {', '.join(known)})")
    for key in known:
        if key not in table:
            raise GateSettingsError(f"{prefix}{key} is missing")


def _table(doc: Mapping[str, Any], key: str, name: str) -> Mapping[str, Any]:
    value = doc[key]
    if not isinstance(value, dict):
        raise _fail(name, "must be a table", value)
    return value


def _number(table: Mapping[str, Any], key: str, prefix: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"{prefix}{key}", "must be a number", value)
    if not math.isfinite(value):
        raise _fail(f"{prefix}{key}", "must be a finite number", value)
    return float(value)


def _settings_from(doc: Mapping[str, Any]) -> GateSettings:
    _check_keys(doc, _TOP_KEYS, "")
    version = doc["version"]
    if isinstance(version, bool) or version != SETTINGS_VERSION:
        raise _fail("version", f"must be {SETTINGS_VERSION} (the version this orstream reads)",
                    version)  # fmt: skip
    gate = _table(doc, "gate", "gate")
    _check_keys(gate, _GATE_KEYS, "gate.")
    faults = gate["stop_after_faults"]
    if isinstance(faults, bool) or not isinstance(faults, int):
        raise _fail("gate.stop_after_faults", "must be a whole number", faults)
    values = {key: _number(gate, key, "gate.") for key in _GATE_KEYS if key != "stop_after_faults"}
    axes_table = _table(doc, "axes", "axes")
    axes = []
    for name in axes_table:
        table = _table(axes_table, name, f"axes.{name}")
        prefix = f"axes.{name}."
        _check_keys(table, _AXIS_KEYS, prefix)
        unit = table["unit"]
        if unit not in UNITS:
            raise _fail(f"{prefix}unit", f"must be one of {', '.join(UNITS)}", unit)
        numbers = {key: _number(table, key, prefix) for key in _AXIS_KEYS if key != "unit"}
        axes.append(AxisLimits(name=name, unit=unit, **numbers))
    return GateSettings(axes=tuple(axes), stop_after_faults=faults, **values)


def parse_gate_settings(text: str, source: str = "gate.toml") -> GateSettings:
    """Settings from TOML ``text``; errors are one line starting with ``source``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise GateSettingsError(f"{source}: not valid TOML: {err}") from None
    try:
        return _settings_from(doc)
    except GateSettingsError as err:
        raise GateSettingsError(f"{source}: {err}") from None


def load_gate_settings(path: str | Path | None = None) -> GateSettings:
    """Settings from the TOML file at ``path``, or a shipped preset by name (``GATE_PRESETS``,
    when no such file exists); the shipped default (``gate.toml``) when ``path`` is None."""
    preset = "default" if path is None else str(path)
    if preset in GATE_PRESETS and (path is None or not Path(preset).exists()):
        name = GATE_PRESETS[preset]
        shipped = resources.files(__package__ or "orstream.policies").joinpath(name)
        try:
            text = shipped.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise GateSettingsError(
                f"{name}: the shipped settings are missing from this install "
                "(package data of orstream.policies)"
            ) from None
        return parse_gate_settings(text, name)
    assert path is not None
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise GateSettingsError(f"{file.name}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise GateSettingsError(f"{file.name}: not UTF-8 text") from None
    return parse_gate_settings(text, file.name)
