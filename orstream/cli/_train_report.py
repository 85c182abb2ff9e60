"""The ``eval seg`` report of each model in a few human-readable lines (``train seg`` prints
the same at its end). The report itself is the task's JSON (``orstream.sim.training_task``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

Report = dict[str, Any]


def _speed_line(report: Report, path_key: str, path: str) -> str:
    return (
        f"  {report['frames_per_s_batch1']:.0f} frames/s at batch 1 (model only), "
        f"{report[path_key]:.0f} frames/s {path}, "
        f"{report['threads']} thread(s); model {report['model_bytes'] / 1e6:.2f} MB"
    )


def print_echo(report: Report) -> None:
    """``echo-lv``: Dice per class, per view, and the speed."""
    print(
        f"{report['model']} on {report['frames']} fresh test frames "
        f"(seeds {report['test_seeds'][0]}..{report['test_seeds'][1] - 1}, "
        f"{report['render_size'][0]} px), backend {report['backend']}:"
    )
    for name, s in report["dice"].items():
        if s.get("n"):
            by_view = ", ".join(
                f"{v} {d['mean']:.3f}" for v, d in report["dice_by_view"][name].items() if d["n"]
            )
            print(
                f"  {name:14s} Dice mean {s['mean']:.3f} median {s['median']:.3f} "
                f"p5 {s['p5']:.3f} ({by_view})"
            )
    _print_septal(report)
    print(_speed_line(report, "segment_frames_per_s_batch1", "image to mask"))


def _print_septal(report: Report) -> None:
    """The septal-dropout line of an echo report, when it has the set."""
    sep = report.get("septal_dropout_set")
    if sep is None:
        return
    lo, hi = sep["septal_dropout"]
    before, after = sep["dice_without_dropout"]["lv_cavity"], sep["dice"]["lv_cavity"]
    print(
        f"  septal dropout {lo:g}-{hi:g} on {sep['frames']} simulated test frames: LV cavity "
        f"Dice mean {after['mean']:.3f} p5 {after['p5']:.3f} (without: {before['mean']:.3f}, "
        f"p5 {before['p5']:.3f})"
    )


def print_fluoro(report: Report) -> None:
    """``fluoro-catheter``: tip error overall, per anatomy and contrast, tracking speed."""
    e, p = report["tip_error_mm"], report["tip_error_px"]
    print(
        f"{report['model']} tracking {report['frames']} frames of fresh runs "
        f"(seeds {report['test_seeds'][0]}..{report['test_seeds'][1] - 1}, 1024 px), "
        f"backend {report['backend']}:"
    )
    print(
        f"  tip error median {e.get('median', float('nan')):.2f} mm "
        f"({p.get('median', float('nan')):.1f} px), p95 {e.get('p95', float('nan')):.2f} mm; "
        f"found in {report['tip_found_share']:.1%} of frames; ROI pass "
        f"{report['roi_share']:.0%} of frames"
    )
    groups = {**report["tip_error_mm_by_anatomy"], **report["tip_error_mm_by_contrast"]}
    for name, s in groups.items():
        if s.get("n"):
            print(f"  {name:18s} median {s['median']:.2f} mm, p95 {s['p95']:.2f} mm ({s['n']})")
    if "tip_confidence" in report:
        print(_confidence_line(report["tip_confidence"]))
    print(
        f"  {report['track_fps']:.0f} frames/s tracking (1024 px frames, "
        f"{report['threads']} thread(s)); search-pass catheter Dice "
        f"{report['catheter_dice_search_pass'].get('mean', float('nan')):.3f}"
    )


def _confidence_line(c: dict[str, Any]) -> str:
    """One line of a ``tip_confidence_report``."""
    value = "n/a" if c["auroc"] is None else f"{c['auroc']:.3f}"
    return (
        f"  tip confidence: AUROC {value} for the {c['bad_frames']} of {c['frames']} frames with "
        f"the tip off by more than {c['bad_means_error_above_mm']:g} mm or not found"
    )


def _fmt(s: dict[str, Any], key: str = "median", digits: int = 3) -> str:
    return f"{s[key]:.{digits}f}" if s.get("n") else "n/a"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def print_needle(report: Report) -> None:
    """``us-needle``: needle Dice, tip error and detection, overall and per aspect."""
    print(
        f"{report['model']} on {report['frames']} fresh test frames "
        f"(seeds {report['test_seeds'][0]}..{report['test_seeds'][1] - 1}, "
        f"{report['render_rows']} rows), backend {report['backend']}; "
        f"{report['frames_tip_visible']} with the tip in view; needle-free frames with mask "
        f"pixels {_pct(report['mask_false_alarm_rate'])}:"
    )
    for name, b in (("all", report), *report["by_aspect"].items()):
        d, mm = b["needle_dice"], b["tip_error_mm"]
        present, gated = b["needle_dice_needle_present"], b["needle_dice_gated"]
        print(
            f"  {name:6s} needle Dice mean {_fmt(d, 'mean')} median {_fmt(d)} p5 {_fmt(d, 'p5')}"
            f" (needle present: mean {_fmt(present, 'mean')}; gated by the tip: mean "
            f"{_fmt(gated, 'mean')}); tip error median {_fmt(mm)} mm p95 {_fmt(mm, 'p95')} mm "
            f"(median {_fmt(b['tip_error_px'], digits=2)} px), within 1 mm "
            f"{_pct(b['tip_within_1mm'])}; detected {_pct(b['detection_rate'])}, "
            f"false alarms {_pct(b['false_alarm_rate'])}"
        )
    if "tip_confidence" in report:
        print(_confidence_line(report["tip_confidence"]))
    print(_speed_line(report, "detect_frames_per_s_batch1", "image to mask and tip"))


def print_usgra(report: Report) -> None:
    """``us-nerve-vessel``: Dice per class and per image geometry, misses, worst images."""
    print(
        f"{report['model']} on {report['frames']} real validation images of usgra-seg "
        f"(split seed {report['split_seed']}, each at its own size), backend {report['backend']}:"
    )
    for name, s in report["dice"].items():
        if s.get("n"):
            by_geometry = ", ".join(
                f"{k} {d['mean']:.3f}"
                for k, d in report["dice_by_geometry"][name].items()
                if d.get("n")
            )
            print(
                f"  {name:8s} Dice mean {s['mean']:.3f} median {s['median']:.3f} "
                f"p5 {s['p5']:.3f} min {s['min']:.3f} (n {s['n']}; {by_geometry})"
            )
            present, seen = report["dice_where_present"][name], report["presence"][name]
            if present.get("n"):
                print(
                    f"  {'':8s} where the truth has it: mean {present['mean']:.3f} (n "
                    f"{present['n']}); missed in {seen['missed']}, drawn where absent in "
                    f"{seen['false_alarm']}"
                )
    worst = "; ".join(
        w["name"] + " " + " ".join(f"{k} {v:.2f}" for k, v in w.items() if isinstance(v, float))
        for w in report["worst"][:3]
    )
    print(f"  worst images (lowest class Dice): {worst}")
    print(_speed_line(report, "segment_frames_per_s_batch1", "image to mask"))


def print_folder(report: Report) -> None:
    """``eval seg --data`` (and ``echo-lv-camus``): Dice per class, per view and phase for
    CAMUS-named images, EF from the masks, the confidence's AUROC."""
    print(f"{report['model']} on {report['frames']} images of {report['data']}:")
    for name, s in report["dice"].items():
        if s.get("n"):
            print(
                f"  {name:14s} Dice mean {s['mean']:.3f} median {s['median']:.3f} p5 {s['p5']:.3f}"
            )
    for name, phases in report.get("dice_by_view_phase", {}).items():
        cells = ", ".join(f"{k} {d['mean']:.3f}" for k, d in phases.items() if d.get("n"))
        print(f"  {name:14s} {cells}")
    ef = report.get("ef_from_masks", {}).get("discs_biplane_mean")
    if ef and ef["mae"] is not None:
        print(
            f"  EF from masks (biplane discs) vs truth masks: MAE {ef['mae']:.3f}, bias "
            f"{ef['bias']:+.3f} ({ef['patients']} patients)"
        )
    c = report["confidence"]
    auroc = "n/a" if c["auroc"] is None else f"{c['auroc']:.3f}"
    print(
        f"  confidence ({c['method']}, {c['class']}): AUROC {auroc} for Dice >= "
        f"{c['wrong_means_dice_below']} ({c['wrong_frames']} of {c['frames']} below)"
    )
    _print_septal(report)
    print(
        f"  {report['frames_per_s_batch1']:.0f} frames/s at batch 1 (model only), "
        f"{report['threads']} thread(s); model {report['model_bytes'] / 1e6:.2f} MB"
    )


PRINTERS: Final[dict[str, Callable[[Report], None]]] = {
    "echo-lv": print_echo,
    "echo-lv-camus": print_folder,
    "folder": print_folder,
    "fluoro-catheter": print_fluoro,
    "us-nerve-vessel": print_usgra,
    "us-needle": print_needle,
}
"""Model name -> the printer of its evaluation report."""


def print_report(model: str, report: Report) -> None:
    """The evaluation report of ``model`` in a few lines (JSON when no printer knows it)."""
    printer = PRINTERS.get(model)
    if printer is None:
        import json

        print(json.dumps(report, indent=2))
        return
    printer(report)
