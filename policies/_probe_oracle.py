"""The privileged expert of ``orstream/ProbeNav``: it reads the probe's true offset from the
target view (which no policy sees) and moves straight towards the view, each motion as far as its
step cap allows, then holds still there. It labels DAgger demonstrations (``train policy
--demo-expert oracle``) for a policy that sees only chamber features, e.g. of segmented B-mode
frames ("learning by cheating": the expert knows the state, the student learns to read it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..sim import PROBE_STEP_CAPS

F32 = npt.NDArray[np.float32]
_CAPS = np.array(PROBE_STEP_CAPS)


class ProbeOracle:
    """The expert for ``env`` (a ProbeNav environment, wrapped or not): ``act(obs)`` ignores
    ``obs`` and returns (5,) float32 in [-1, 1], the motion back to offset 0 in step caps."""

    name = "oracle"

    def __init__(self, env: Any) -> None:
        self.env = env

    def reset(self) -> None:
        """Nothing to forget between episodes."""

    def act(self, obs: F32) -> F32:
        offset = np.asarray(self.env.unwrapped.offset, np.float64)
        action: F32 = np.clip(-offset / _CAPS, -1.0, 1.0).astype(np.float32)
        return action
