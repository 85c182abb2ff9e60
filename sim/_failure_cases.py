"""The worst cases of the tip models, as :class:`~._case_panel.PanelCase` for the model cards.

- :func:`fluoro_worst_cases`: ``fluoro-catheter`` with ``RoiTipTracker`` on ``fluoro_run``
  runs (as the card's test figures): the worst tracked frame of each run, the ``n`` runs whose
  worst frame is furthest off, truth tip against tracked tip with the crop around the true tip
  enlarged;
- :func:`needle_worst_cases`: ``us-needle`` on a :class:`NeedleSet`: the ``n`` frames with the
  tip in view found furthest from it, truth and predicted needle outlines and tips;
- :func:`false_needle_cases`: ``us-needle`` on images without a needle (real ultrasound): the
  ``n`` with the most confident tip, its needle mask and tip.

Truth is green, the model's output red (:data:`~._case_panel.TRUTH_COLOUR`,
:data:`~._case_panel.PREDICTION_COLOUR`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from ..kernels import Backend, RoiTipTracker, detect_needles, dice_scores
from ._case_panel import PREDICTION_COLOUR, TRUTH_COLOUR, PanelCase
from ._train_fluoro import fluoro_run
from ._train_fluoro_eval import FRAMES_PER_RUN, track_sequence
from ._train_needle import NeedleSet

U8 = npt.NDArray[np.uint8]
FLUORO_ZOOM_PX: Final = 128
"""Side of the fluoroscopy crop shown enlarged (frame px; 32 mm at 0.25 mm/px)."""
NEEDLE_ZOOM_PX: Final = 48
"""Side of the ultrasound crop shown enlarged (frame px)."""


def _mm(value: float) -> str:
    return f"{value:.1f} mm" if np.isfinite(value) else "no tip"


def fluoro_worst_cases(
    backend: Backend,
    seeds: Iterable[int],
    *,
    dose: float | None = None,
    n: int = 4,
    frames: int = FRAMES_PER_RUN,
) -> list[PanelCase]:
    """Track ``frames`` frames of each ``fluoro_run(seed, dose=dose)`` with a fresh
    ``RoiTipTracker`` on ``backend``; the worst frame (largest tip error, a lost tip counts as
    infinite) of each of the ``n`` runs whose worst frame is furthest off, worst first."""
    worst: list[tuple[float, int, int, float, float, float, float]] = []
    for seed in seeds:
        got = track_sequence(RoiTipTracker(backend), fluoro_run(seed, dose=dose), frames)
        i = int(np.argmax(got["err_mm"]))
        worst.append(
            (
                got["err_mm"][i],
                seed,
                i,
                got["x_px"][i],
                got["y_px"][i],
                got["conf"][i],
                got["contrast"][i],
            )
        )
    worst.sort(key=lambda w: (-w[0], w[1]))
    cases = []
    for err, seed, index, x, y, conf, contrast in worst[:n]:
        sim = fluoro_run(seed, dose=dose)
        frame = sim.render(index)
        tip = (float(frame.truth["tip_px"][0]), float(frame.truth["tip_px"][1]))
        caption = (
            f"seed {seed} frame {index} {sim.anatomy} dose {sim.dose:.0f} contrast {contrast:.1f}"
            f" | error {_mm(err)} conf {conf:.2f}"
        )
        cases.append(
            PanelCase(
                frame.image,
                caption,
                marks=((tip, TRUTH_COLOUR), ((x, y), PREDICTION_COLOUR)),
                zoom=tip,
                zoom_px=FLUORO_ZOOM_PX,
            )
        )
    return cases


def needle_worst_cases(backend: Backend, data: NeedleSet, *, n: int = 4) -> list[PanelCase]:
    """The ``n`` frames of ``data`` whose tip is in view and found furthest from it (mm in the
    frame's spacing), worst first: truth and predicted needle outlines, truth and found tip."""
    found = list(detect_needles(backend, data.images))
    got = np.array([d.tip for d in found], np.float64).reshape(-1, 2)
    err = np.hypot(*(got - data.tips).T) * data.spacing_mm
    visible = np.flatnonzero(np.isfinite(data.tips[:, 0]))
    order = visible[np.argsort(-err[visible], kind="stable")][:n]
    cases = []
    for i in order:
        image, truth, d = data.images[i], data.masks[i], found[i]
        dice = float(np.nan_to_num(dice_scores(d.mask != 0, truth != 0, 2)[0, 0]))
        tip = (float(data.tips[i, 0]), float(data.tips[i, 1]))
        caption = (
            f"seed {data.seeds[i]} frame {data.frames[i]} | tip error {err[i]:.1f} mm"
            f" conf {d.confidence:.2f} Dice {dice:.2f}"
        )
        cases.append(
            PanelCase(
                image,
                caption,
                outlines=((truth, TRUTH_COLOUR), (d.mask, PREDICTION_COLOUR)),
                marks=((tip, TRUTH_COLOUR), (d.tip, PREDICTION_COLOUR)),
                zoom=tip,
                zoom_px=NEEDLE_ZOOM_PX,
            )
        )
    return cases


def false_needle_cases(
    backend: Backend, names: Sequence[str], images: Sequence[U8], *, n: int = 4
) -> list[PanelCase]:
    """The ``n`` of ``images`` (no needle in any) where ``backend`` reports a tip with the
    highest confidence, most confident first: the needle mask and the tip it reports."""
    found = list(detect_needles(backend, images))
    order = np.argsort([-d.confidence for d in found], kind="stable")[:n]
    return [
        PanelCase(
            images[i],
            f"{names[i]} (no needle) | tip conf {found[i].confidence:.2f}"
            f", {int((found[i].mask != 0).sum())} needle px",
            outlines=((found[i].mask, PREDICTION_COLOUR),),
            marks=((found[i].tip, PREDICTION_COLOUR),),
            zoom=found[i].tip,
            zoom_px=4 * NEEDLE_ZOOM_PX,
        )
        for i in order
    ]
