"""An echo model on real annotated echo: CAMUS val (or any folder) Dice, EF from masks, confidence.

:func:`evaluate_folder` is ``orstream eval seg --data DIR``: the folder report of
:mod:`._eval_folder` and, when every file has a CAMUS name (``patientNNNN_{2CH,4CH}_{ED,ES}``),
the CAMUS figures of :func:`camus_figures`: Dice per view and phase, and EF per patient from
the predicted and the truth LV cavity masks by the same method (single-plane method of discs,
20 discs, of each view; biplane: the mean of the A2C and A4C volumes; area-length beside it).
CAMUS gives no pixel spacing: 1 mm is assumed, which EF (a ratio of volumes) does not depend
on. :func:`evaluate_camus_task` is the ``echo-lv-camus`` task's report (CAMUS val).
:func:`~._case_panel.worst_cases_panel` draws the worst images for the model cards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..kernels import (
    ModelSpec,
    TrainOptions,
    eval_backend,
    eval_report_header,
    lv_area_mm2,
    lv_landmarks,
    lv_volume_area_length_ml,
    lv_volume_discs_ml,
    summary_stats,
)
from ._case_panel import worst_cases_panel
from ._dataset_camus import (
    CAMUS_TO_ECHO_LV,
    find_camus,
    parse_camus_name,
    read_mask_folder,
)
from ._eval_folder import score_folder
from ._train_echo import score_septal_dropout

U8 = npt.NDArray[np.uint8]
_PHASES = ("ED", "ES")
_VIEWS = ("a2c", "a4c")


def _volumes(cavity: U8) -> tuple[float, float]:
    """(method-of-discs, area-length) volume (ml at 1 mm/px) of a cavity mask; nan if none."""
    lm = lv_landmarks(cavity, 1.0)
    if lm is None:
        return float("nan"), float("nan")
    return lv_volume_discs_ml(cavity, 1.0), lv_volume_area_length_ml(
        lv_area_mm2(cavity, 1.0), lm.length_mm
    )


def _ef(edv: float, esv: float) -> float:
    return (edv - esv) / edv if edv > 0 else float("nan")


def camus_ef(
    names: Sequence[str], pred: Sequence[U8], truth: Sequence[U8], lv: int = 1
) -> dict[str, Any]:
    """EF from the predicted and the truth LV masks (class ``lv``) of every patient with both
    phases of a view: per method ("discs_a2c", "discs_a4c", "discs_biplane_mean",
    "area_length_biplane_mean") the mean and median absolute difference, the share within
    0.06, the mean signed bias (predicted - truth), and the patients counted."""
    vols: dict[tuple[str, str, str, str], tuple[float, float]] = {}
    for name, p, t in zip(names, pred, truth, strict=True):
        patient, view, phase = parse_camus_name(name)
        vols[(patient, view, phase, "pred")] = _volumes((p == lv).astype(np.uint8))
        vols[(patient, view, phase, "truth")] = _volumes((t == lv).astype(np.uint8))
    patients = sorted({k[0] for k in vols})

    def ef_of(patient: str, views: Sequence[str], src: str, which: int) -> float:
        v = {
            ph: float(
                np.mean([vols.get((patient, w, ph, src), (np.nan, np.nan))[which] for w in views])
            )
            for ph in _PHASES
        }
        return _ef(v["ED"], v["ES"])

    out: dict[str, Any] = {}
    methods = {
        "discs_a2c": (("a2c",), 0),
        "discs_a4c": (("a4c",), 0),
        "discs_biplane_mean": (_VIEWS, 0),
        "area_length_biplane_mean": (_VIEWS, 1),
    }
    for method, (views, which) in methods.items():
        pairs = np.array(
            [(ef_of(p, views, "pred", which), ef_of(p, views, "truth", which)) for p in patients]
        ).reshape(-1, 2)
        ok = np.isfinite(pairs).all(axis=1)
        diff = pairs[ok, 0] - pairs[ok, 1]
        out[method] = {
            "patients": int(ok.sum()),
            "mae": round(float(np.abs(diff).mean()), 4) if ok.any() else None,
            "median_abs": round(float(np.median(np.abs(diff))), 4) if ok.any() else None,
            "within_0.06": round(float(np.mean(np.abs(diff) <= 0.06)), 4) if ok.any() else None,
            "bias": round(float(diff.mean()), 4) if ok.any() else None,
            "truth_ef_mean": round(float(pairs[ok, 1].mean()), 4) if ok.any() else None,
        }
    return out


def camus_figures(
    names: Sequence[str], dice: npt.NDArray[np.float64], class_names: Sequence[str]
) -> dict[str, Any]:
    """Dice of each foreground class per view and phase ("a4c_ED", ...) over CAMUS-named
    images (``dice`` (N, K-1), classes ``class_names[1:]``; classes CAMUS lacks are skipped)."""
    parsed = [parse_camus_name(n) for n in names]
    labelled = {class_names[v] for v in CAMUS_TO_ECHO_LV.values() if v}
    out: dict[str, Any] = {}
    for c, name in enumerate(class_names[1:]):
        if name not in labelled:
            continue
        out[name] = {
            f"{view}_{phase}": summary_stats(
                dice[[p[1] == view and p[2] == phase for p in parsed], c]
            )
            for view in _VIEWS
            for phase in _PHASES
        }
    return out


def _is_camus(names: Sequence[str]) -> bool:
    try:
        [parse_camus_name(n) for n in names]
    except ValueError:
        return False
    return True


def evaluate_folder(
    spec: ModelSpec,
    folder: Path,
    options: TrainOptions,
    labels: Mapping[int, int] | None = None,
    panel: Path | None = None,
) -> dict[str, Any]:
    """``eval seg --data``: the report of ``spec`` on ``folder`` (images/ and masks/, masks
    mapped by ``labels``), with CAMUS figures for CAMUS-named files; ``panel``: also save the
    worst images as a PNG there."""
    data = read_mask_folder(folder, labels)
    runner = eval_backend(spec, options)
    lv = spec.class_names.index("lv_cavity") if "lv_cavity" in spec.class_names else 1
    report, masks, dice, conf = score_folder(runner, data, lv)
    out: dict[str, Any] = {
        **eval_report_header(spec, runner, options),
        "data": str(folder),
        "label_map": None if labels is None else {str(k): v for k, v in labels.items()},
        **report,
    }
    if _is_camus(data.names) and "lv_cavity" in spec.class_names:
        out["dice_by_view_phase"] = camus_figures(data.names, dice, spec.class_names)
        out["ef_from_masks"] = camus_ef(data.names, masks, data.labels, lv)
    if panel is not None:
        worst_cases_panel(data, masks, dice[:, lv - 1], conf, panel)
    return out


def evaluate_camus_task(spec: ModelSpec, options: TrainOptions) -> dict[str, Any]:
    """The ``echo-lv-camus`` report: :func:`evaluate_folder` on CAMUS val (the split that chose
    the checkpoint; the held-back CAMUS test patients are not here), and simulated test clips
    with and without septal dropout (:func:`score_septal_dropout`)."""
    report = evaluate_folder(spec, find_camus("val"), options, CAMUS_TO_ECHO_LV)
    report["septal_dropout_set"] = score_septal_dropout(
        eval_backend(spec, options),
        max(1, options.test_samples // 2),
        spec.input_size[0],
        options.progress,
    )
    return report
