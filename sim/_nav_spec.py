"""The contract of ``orstream/CatheterNav-v0`` that policies rely on: action caps, thresholds and
the observation layout (no gymnasium needed to read them)."""

from __future__ import annotations

ADVANCE_MM_S, ROTATE_RAD_S, CONTROL_HZ = 35.0, 3.14, 7.5
STEP_MM, STEP_RAD = ADVANCE_MM_S / CONTROL_HZ, ROTATE_RAD_S / CONTROL_HZ
SUCCESS_MM = 3.0
MAX_FORCE_N = 1.0
"""Contact force that ends an episode as a failure, N."""
SAFE_FORCE_N = 0.3
"""Contact force under which a step counts as safe, N."""
START_MM = 10.0
"""Where the tip starts: this far along the route from the entry (the sheath), mm."""
NAV_OBS_LAYOUT = (
    "target_dx", "target_dy", "heading_cos", "heading_sin", "roll_cos", "roll_sin",
    "confidence", "kid0_cos", "kid0_sin", "kid0_to_target", "kid1_cos", "kid1_sin",
    "kid1_to_target", "kid2_cos", "kid2_sin", "kid2_to_target", "to_target", "to_fork",
    "last_advance", "last_rotate", "on_route", "radius", "turn_ahead", "last_force",
)  # fmt: skip
"""Observation entries: offsets /100 mm, kid angles relative to the heading at the next fork,
distances /100 mm (to_fork /20 mm), radius /5 mm, turn ahead rad, force /MAX_FORCE_N."""
NAV_OBS_SIZE = len(NAV_OBS_LAYOUT)

NAV_ENV_IDS = ("orstream/CatheterNav-v0",)
"""Every environment id this package registers."""
