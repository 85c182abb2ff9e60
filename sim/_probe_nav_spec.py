"""The contract of ``orstream/ProbeNav-v0`` and ``-v1`` that policies rely on: the probe's
degrees of freedom and their caps per step, the start and workspace ranges, success thresholds,
the view quality, the target view and the observation layout (no gymnasium needed to read them).
"""

from __future__ import annotations

PROBE_ENV_IDS = ("orstream/ProbeNav-v0", "orstream/ProbeNav-v1")
"""Every echo-probe environment id this package registers. v0: the textbook target, one frame's
features, success at the first step within the tolerance; v1: the four-chamber plane through
the right atrium, the last ``PROBE_HISTORY`` frames' features and the motions between them,
success after ``PROBE_DWELL`` steps within the tolerance."""

PROBE_TARGETS = ("textbook", "right-atrium")
"""How the target view's rotation about the LV axis is set. ``textbook``: a fixed angle in the
heart frame, wherever the phantom's right heart and atria lie; ``right-atrium``: the plane
through the LV long axis and the right atrium's centre, so that the four-chamber plane cuts the
atria through their middle and the view follows the anatomy, as a sonographer's does."""
PROBE_HISTORY = 6
"""Frames ProbeNav-v1 observes: the newest first, then the motions between them."""
PROBE_DWELL = 3
"""ProbeNav-v1's success: within the tolerance for this many consecutive steps (0.3 s at 10
motions/s): the probe stops at the view. v0 ends at the first step within it."""
PROBE_ENV_SETTINGS: dict[str, tuple[str, int, int]] = {
    "orstream/ProbeNav-v0": ("textbook", 1, 1),
    "orstream/ProbeNav-v1": ("right-atrium", PROBE_HISTORY, PROBE_DWELL),
}
"""(target, history, dwell) of the ``ProbeNavEnv`` each id registers."""

PROBE_ACTION_LAYOUT = ("slide_mm", "depth_mm", "aim_mm", "tilt_deg", "rotate_deg")
"""Probe motions, in action order: slide the transducer sideways in the image plane (mm), move it
along the LV long axis away from the apex (mm), aim the beam sideways (moves the aimed point at
the base in-plane, mm), tilt out of the image plane (deg), rotate about the LV axis (deg)."""
PROBE_STEP_CAPS = (2.0, 2.0, 2.0, 3.0, 3.0)
"""Largest motion per step of each ``PROBE_ACTION_LAYOUT`` entry (action 1.0 = one cap)."""
PROBE_START_RANGE = (15.0, 10.0, 12.0, 15.0, 20.0)
"""A start pose is drawn uniformly within +- these offsets from the apical four-chamber view."""
PROBE_LIMITS = (25.0, 12.0, 20.0, 25.0, 35.0)
"""Workspace: the probe cannot move further than +- these offsets from the target view."""
PROBE_SUCCESS_MM, PROBE_SUCCESS_DEG = 5.0, 5.0
"""The tolerance: the transducer within 5 mm and its imaging frame within 5 deg of the target
view (v0: success on reaching it; v1: on staying in it ``PROBE_DWELL`` steps)."""
PROBE_QUALITY_MM, PROBE_QUALITY_DEG = 30.0, 30.0
"""View quality = 1 - 0.5 min(1, error_mm / 30) - 0.5 min(1, error_deg / 30): 1 at the target."""
PROBE_MAX_STEPS = 100
PROBE_DEPTH_MM, PROBE_SECTOR_DEG = 160.0, 75.0
"""The imaging sector the observation is computed on."""

PROBE_CHAMBERS = (("lv", 1), ("myo", 2), ("rv", 3), ("la", 4), ("ra", 5))
"""Chamber masks (name, label index in ``LABEL_NAMES``) turned into features."""
_PER_CHAMBER = ("present", "area", "cx", "cy", "axis_cos", "axis_sin")
PROBE_OBS_LAYOUT = (
    *(f"{c}_{f}" for c, _ in PROBE_CHAMBERS for f in _PER_CHAMBER),
    "lv_axis",
    "lv_length",
    "balance_lr",
    "chambers_cx",
)
"""Observation entries. Per chamber: present (0/1), area (fraction of the sector), centroid x
(-1 left edge .. 1 right edge of the sector) and y (-1 apex .. 1 full depth), principal-axis
orientation from the image vertical as (cos 2a, sin 2a) (0, 0 when absent). Then the LV long
axis's signed angle from the vertical / 90 deg, its length (4 standard deviations along the axis)
/ depth, the left/right balance (LV + LA area - RV - RA area) / their sum, and the area-weighted
centroid x of the four chambers."""
PROBE_OBS_SIZE = len(PROBE_OBS_LAYOUT)
"""One frame's features; ProbeNav-v0's observation."""


def stacked_obs_size(history: int) -> int:
    """The observation size with ``history`` frames of ``PROBE_OBS_LAYOUT`` features (newest
    first), then the ``history - 1`` actions between them (newest first,
    ``PROBE_ACTION_LAYOUT`` each)."""
    return history * PROBE_OBS_SIZE + (history - 1) * len(PROBE_ACTION_LAYOUT)


def probe_obs_size(env_id: str) -> int:
    """The observation size of probe environment ``env_id`` (:func:`stacked_obs_size` of its
    history)."""
    return stacked_obs_size(PROBE_ENV_SETTINGS[env_id][1])
