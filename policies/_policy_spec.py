"""A navigation policy named on the command line: a baseline, the shipped one, or a file."""

from __future__ import annotations

from pathlib import Path

from ..sim import PROBE_ENV_IDS
from ._nav_runtime import OnnxPolicy, shipped_policy_path
from ._nav_scripted import NavPolicy, RandomNavPolicy, ScriptedNavPolicy
from ._probe_scripted import RandomProbePolicy, ScriptedProbePolicy


def policy_from_spec(spec: str, env_id: str, seed: int = 0) -> NavPolicy:
    """``scripted`` or ``random`` (the baselines of ``env_id``'s task), ``shipped`` (the
    shipped policy of ``env_id``) or a policy file path; ValueError (one line) for a file that
    is missing, corrupt or made for another environment."""
    probe = env_id in PROBE_ENV_IDS
    if spec == "scripted":
        return ScriptedProbePolicy(env_id=env_id) if probe else ScriptedNavPolicy()
    if spec == "random":
        return RandomProbePolicy(seed) if probe else RandomNavPolicy(seed)
    path = shipped_policy_path(env_id) if spec == "shipped" else Path(spec)
    return OnnxPolicy(path, env_id)
