"""orstream.policies: what this package owns is in docs/architecture.md; the safety gate is in
docs/safety-gate.md."""

from ._gate import GateSubscriber, SafetyGate
from ._gate_settings import (
    GATE_PRESETS,
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
from ._guidance import (
    FollowTargetGuidance,
    Guidance,
    GuidanceNote,
    GuidanceObservation,
    GuidanceProposal,
)
from ._guidance_loop import CONTROL_OPS, GuidanceLoop
from ._guidance_result import GuidanceResult, transition_fields, unit_key
from ._nav_demos import DEMO_EXPERTS as NAV_DEMO_EXPERTS
from ._nav_eval import (
    NAV_METRICS,
    NavEpisode,
    bootstrap_interval,
    evaluate_nav,
    evaluate_nav_policy,
    paired_difference,
    run_nav_episode,
    summarize_nav,
)
from ._nav_guidance import NavPolicyGuidance, gate_speed_scale
from ._nav_perception import PerceivedTip
from ._nav_runtime import SHIPPED_POLICIES, OnnxPolicy, shipped_policy_path
from ._nav_scripted import NavPolicy, RandomNavPolicy, ScriptedNavPolicy
from ._nav_train import ALGOS as NAV_ALGOS
from ._nav_train import POLICY_NAMES as NAV_POLICY_NAMES
from ._nav_train import NavTrainConfig, latest_checkpoint, load_nav_config, train_nav_policy
from ._policy_spec import policy_from_spec
from ._probe_eval import (
    PROBE_CONTROL_HZ,
    PROBE_METRICS,
    ProbeEpisode,
    evaluate_probe_policy,
    run_probe_episode,
    summarize_probe,
)
from ._probe_oracle import ProbeOracle
from ._probe_perception import ProbePerception
from ._probe_scripted import (
    ProbeServoModel,
    RandomProbePolicy,
    ScriptedProbePolicy,
    calibrate_probe_servo,
)

__all__ = [
    "CONTROL_OPS",
    "GATE_PRESETS",
    "NAV_ALGOS",
    "NAV_DEMO_EXPERTS",
    "NAV_METRICS",
    "NAV_POLICY_NAMES",
    "PROBE_CONTROL_HZ",
    "PROBE_METRICS",
    "SETTINGS_VERSION",
    "SHIPPED_POLICIES",
    "AxisClip",
    "AxisLimits",
    "FollowTargetGuidance",
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
    "Guidance",
    "GuidanceLoop",
    "GuidanceNote",
    "GuidanceObservation",
    "GuidanceProposal",
    "GuidanceResult",
    "NavEpisode",
    "NavPolicy",
    "NavPolicyGuidance",
    "NavTrainConfig",
    "OnnxPolicy",
    "PerceivedTip",
    "ProbeEpisode",
    "ProbeOracle",
    "ProbePerception",
    "ProbeServoModel",
    "RandomNavPolicy",
    "RandomProbePolicy",
    "SafetyGate",
    "ScriptedNavPolicy",
    "ScriptedProbePolicy",
    "bootstrap_interval",
    "calibrate_probe_servo",
    "evaluate_nav",
    "evaluate_nav_policy",
    "evaluate_probe_policy",
    "gate_speed_scale",
    "latest_checkpoint",
    "load_gate_settings",
    "load_nav_config",
    "paired_difference",
    "parse_gate_settings",
    "policy_from_spec",
    "run_nav_episode",
    "run_probe_episode",
    "shipped_policy_path",
    "summarize_nav",
    "summarize_probe",
    "train_nav_policy",
    "transition_fields",
    "unit_key",
]
