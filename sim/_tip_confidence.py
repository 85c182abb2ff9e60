"""How much a tip's confidence is worth: per-frame tip error against confidence on fresh runs.

A frame is *bad* when its tip error is above 3 mm or no tip came out (or, for the needle, a tip
is reported where none is in view); :func:`~orstream.kernels.tip_confidence_report` gives the
AUROC of ``1 - confidence`` for the bad frames. Three sources:

- :func:`fluoro_tip_confidence`: the ``fluoro-catheter`` ROI tracker on ``fluoro_run`` test
  runs (contrast injections on), at their drawn dose or at a fixed (low) ``dose``;
- :func:`robot_fluoro_tip_confidence`: the same tracker on :class:`RobotFluoroSimulator` runs
  (no contrast, breath hold), the catheter advanced at a constant speed by a simulated robot;
- :func:`needle_tip_confidence`: ``us-needle`` on a :class:`NeedleSet`, and
  :func:`confidence_spread` for images without truth (what a gate would see).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..kernels import (
    DETECT_PROB,
    Backend,
    RoiTipTracker,
    detect_needles,
    summary_stats,
    tip_confidence_report,
)
from ._robot import SimRobot
from ._robot_fluoro import RobotFluoroSimulator
from ._train_fluoro import fluoro_run
from ._train_fluoro_eval import FRAMES_PER_RUN, track_sequence
from ._train_needle import NeedleSet

BAD_ABOVE_MM: Final = 3.0
"""A tip further than this from the truth is wrong (mm)."""


class _FrameClock:
    """The robot's clock (ns): the time of the frame ``sim`` renders next, so the catheter
    moves with the frames whatever the wall clock does."""

    def __init__(self) -> None:
        self.sim: RobotFluoroSimulator | None = None

    def __call__(self) -> int:
        return 0 if self.sim is None else round(self.sim.frames / self.sim.fps * 1e9)


def _report(
    conf: npt.ArrayLike,
    err_mm: npt.ArrayLike,
    extra: dict[str, Any] | None = None,
    no_tip: str = "tip_not_found_frames",
) -> dict[str, Any]:
    err = np.asarray(err_mm, np.float64)
    finite = err[np.isfinite(err)]
    return {
        "frames": len(err),
        "tip_error_mm": summary_stats(finite, 3),
        no_tip: int((~np.isfinite(err)).sum()),
        "confidence": tip_confidence_report(conf, err, BAD_ABOVE_MM),
        **(extra or {}),
    }


def fluoro_tip_confidence(
    backend: Backend,
    seeds: Iterable[int],
    *,
    dose: float | None = None,
    frames: int = FRAMES_PER_RUN,
) -> dict[str, Any]:
    """Track ``frames`` consecutive 1024 px frames of each ``fluoro_run(seed, dose=dose)`` with
    a fresh :class:`RoiTipTracker`; the confidence report of the tracker's ``confidence`` and,
    beside it, of the bare track confidence, with the tip error distribution (mm) and the bad
    frames per anatomy."""
    conf: list[float] = []
    track: list[float] = []
    err: list[float] = []
    bad_by_anatomy: Counter[str] = Counter()
    runs, runs_with_bad = [], 0
    for seed in seeds:
        sim = fluoro_run(seed, dose=dose)
        got = track_sequence(RoiTipTracker(backend), sim, frames)
        conf += got["conf"]
        track += got["track_conf"]
        err += got["err_mm"]
        bad = int(sum(not e <= BAD_ABOVE_MM for e in got["err_mm"]))
        bad_by_anatomy[sim.anatomy] += bad
        runs_with_bad += bad > 0
        runs.append(seed)
    return _report(
        conf,
        err,
        {
            "seeds": [min(runs), max(runs)] if runs else [],
            "runs": len(runs),
            "dose": "drawn per run (40-400)" if dose is None else dose,
            "runs_with_bad_frames": runs_with_bad,
            "bad_frames_by_anatomy": dict(bad_by_anatomy),
            "track_confidence": tip_confidence_report(track, err, BAD_ABOVE_MM),
        },
    )


def robot_fluoro_tip_confidence(
    backend: Backend,
    seeds: Iterable[int],
    *,
    frames: int = FRAMES_PER_RUN,
    advance_mm_s: float = 4.0,
) -> dict[str, Any]:
    """As :func:`fluoro_tip_confidence` on :class:`RobotFluoroSimulator` runs (hepatic, no
    contrast), the robot advancing the catheter at ``advance_mm_s`` from the first frame;
    ``catheter_path_mm``: how far the catheter slid per run."""
    conf: list[float] = []
    track: list[float] = []
    err: list[float] = []
    runs, paths = [], []
    for seed in seeds:
        clock = _FrameClock()
        robot = SimRobot(None, clock=clock)
        sim = clock.sim = RobotFluoroSimulator(seed, robot=robot)
        command = {"advance_mm_s": advance_mm_s}
        robot.handle(
            {"v": 1, "seq": 1, "kind": "command", "state": "ACTIVE", "command": command}, 0
        )
        got = track_sequence(RoiTipTracker(backend), sim, frames)
        conf += got["conf"]
        track += got["track_conf"]
        err += got["err_mm"]
        runs.append(seed)
        paths.append(sim.path_mm)
    return _report(
        conf,
        err,
        {
            "seeds": [min(runs), max(runs)] if runs else [],
            "runs": len(runs),
            "advance_mm_s": advance_mm_s,
            "catheter_path_mm": summary_stats(np.array(paths), 2),
            "track_confidence": tip_confidence_report(track, err, BAD_ABOVE_MM),
        },
    )


def needle_tip_confidence(backend: Backend, data: NeedleSet) -> dict[str, Any]:
    """``us-needle``'s tip confidence (the heatmap's peak probability) on ``data``: bad frames
    are those whose tip is in view but found more than 3 mm away, and those with no tip in view
    (any tip reported there is false); also the report over the frames with a tip in view."""
    found = list(detect_needles(backend, data.images))
    conf = np.array([d.confidence for d in found], np.float64)
    got = np.array([d.tip for d in found], np.float64).reshape(-1, 2)
    visible = np.isfinite(data.tips[:, 0])
    err = np.hypot(*(got - data.tips).T) * data.spacing_mm  # NaN where no tip is in view
    return _report(
        conf,
        np.where(visible, err, np.inf),
        {
            "frames_tip_visible": int(visible.sum()),
            "seeds": [int(data.seeds.min()), int(data.seeds.max())] if len(data) else [],
            "tip_visible_only": tip_confidence_report(conf[visible], err[visible], BAD_ABOVE_MM),
        },
        no_tip="tip_not_in_view_frames",
    )


def confidence_spread(confidences: npt.ArrayLike) -> dict[str, Any]:
    """What a gate sees on frames without truth: the confidences' summary, and the shares
    below 0.5 and at or above ``DETECT_PROB``."""
    c = np.asarray(confidences, np.float64).ravel()
    return {
        "frames": len(c),
        "confidence": summary_stats(c, 4),
        "share_below_0_5": round(float(np.mean(c < 0.5)), 4) if len(c) else None,
        "share_detected": round(float(np.mean(c >= DETECT_PROB)), 4) if len(c) else None,
    }
