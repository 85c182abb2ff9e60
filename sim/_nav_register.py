"""Registers the navigation environments with gymnasium under versioned ``orstream/`` ids.

gymnasium is in the ``train`` extra only: without it nothing is registered and ``orstream.sim``
still imports; ``make_nav_env`` then says how to install it.
"""

from __future__ import annotations

from typing import Any

from ._nav_spec import NAV_ENV_IDS
from ._probe_nav_spec import PROBE_ENV_IDS, PROBE_ENV_SETTINGS

_ENTRY_POINTS = {
    NAV_ENV_IDS[0]: "orstream.sim._nav_env:CatheterNavEnv",
    **{env_id: "orstream.sim._probe_nav_env:ProbeNavEnv" for env_id in PROBE_ENV_IDS},
}
_KWARGS: dict[str, dict[str, Any]] = {
    env_id: {"target": target, "history": history, "dwell": dwell}
    for env_id, (target, history, dwell) in PROBE_ENV_SETTINGS.items()
}


def register_nav_envs() -> bool:
    """Register ``NAV_ENV_IDS`` and ``PROBE_ENV_IDS`` with gymnasium (idempotent); False when
    gymnasium is missing."""
    try:
        import gymnasium
    except ImportError:
        return False
    for env_id, entry_point in _ENTRY_POINTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, kwargs=_KWARGS.get(env_id, {}))
    return True


def make_nav_env(env_id: str, **kwargs: Any) -> Any:
    """``gymnasium.make(env_id, **kwargs)`` for one of ``NAV_ENV_IDS`` or ``PROBE_ENV_IDS``;
    ValueError otherwise."""
    if env_id not in _ENTRY_POINTS:
        raise ValueError(f"unknown environment {env_id!r}: use one of {', '.join(_ENTRY_POINTS)}")
    if not register_nav_envs():
        raise ImportError("gymnasium is missing: pip install 'orstream[train]'")
    import gymnasium

    return gymnasium.make(env_id, **kwargs)
