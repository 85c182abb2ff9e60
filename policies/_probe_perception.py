"""Perception in the loop for ``orstream/ProbeNav``: each step is rendered as a B-mode frame of
the episode's phantom from the probe's pose (:meth:`~orstream.sim.ProbeView.bmode`: the echo
simulator, its scanner settings drawn per phantom, the heart beating at 75 bpm, frames at the
control rate), the shipped echo model segments it (LV cavity, myocardium, RV, LA, RA), and the
mask, resampled on the environment's grid (:meth:`~orstream.sim.ProbeView.on_grid`), is turned
into the same chamber-mask features as the phantom's label map would give. The policy then sees
a segmentation of a beating heart instead of a perfect end-diastolic label map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..kernels import load_backend, load_model, segment
from ._probe_eval import PROBE_CONTROL_HZ

F32 = npt.NDArray[np.float32]


class ProbePerception:
    """An ``observer`` for the ProbeNav environment: env -> chamber-mask features (float32,
    ``PROBE_OBS_SIZE``) of the segmented B-mode frame (module docstring). ``model``: the echo
    segmentation model (classes 1-5 the LV cavity, myocardium, RV, LA and RA, as echo-lv's);
    ``size``: rendered frame side, px; ``threads``: ONNX Runtime threads; ``beating``: False
    holds the heart at end-diastole (t = 0), as the label map does, to tell the heartbeat's
    effect from the segmentation's. ``frames`` counts the frames segmented."""

    def __init__(
        self, model: str = "echo-lv", size: int = 112, threads: int = 1, beating: bool = True
    ) -> None:
        spec = load_model(model)
        needed = ("lv_cavity", "lv_myocardium", "rv", "la", "ra")
        if tuple(spec.class_names[1:6]) != needed:
            raise ValueError(
                f"model {spec.name} segments {', '.join(spec.class_names[1:])}; ProbeNav "
                f"perception needs {', '.join(needed)} as classes 1-5"
            )
        self.backend = load_backend(spec, "onnxruntime", threads=threads)
        self.size, self.beating, self.frames = int(size), beating, 0

    def __call__(self, env: Any) -> F32:
        view = env.view
        t_s = env.steps / PROBE_CONTROL_HZ if self.beating else 0.0
        pose = view.pose(env.offset)
        frame, geometry = view.bmode(pose, seed=view.phantom_id, t_s=t_s, size=self.size)
        mask = segment(self.backend, frame.image)
        self.frames += 1
        return np.asarray(view.features(view.on_grid(mask, geometry)), np.float32)
