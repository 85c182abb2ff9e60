"""orstream.policies: what this package owns is in docs/architecture.md; the safety gate is in
docs/safety-gate.md."""

from ._gate import GateSubscriber, SafetyGate
from ._gate_settings import (
    SETTINGS_VERSION,
    AxisLimits,
    GateSettings,
    GateSettingsError,
    load_gate_settings,
    parse_gate_settings,
)
from ._gate_types import (
    AxisClip,
    GateCommand,
    GateDecision,
    GateEvent,
    GateReason,
    GateReasonCode,
    GateState,
    GateTransition,
)

__all__ = [
    "SETTINGS_VERSION",
    "AxisClip",
    "AxisLimits",
    "GateCommand",
    "GateDecision",
    "GateEvent",
    "GateReason",
    "GateReasonCode",
    "GateSettings",
    "GateSettingsError",
    "GateState",
    "GateSubscriber",
    "GateTransition",
    "SafetyGate",
    "load_gate_settings",
    "parse_gate_settings",
]
