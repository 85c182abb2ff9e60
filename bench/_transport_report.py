"""The transport benchmark's goals and its human-readable report."""

from __future__ import annotations

from typing import Any, Final

from ._common import format_table
from ._transport_peers import LABELS, OURS, TRANSPORTS

P99_RATIO_GOAL: Final = 0.5
"""Ours' p99 latency at 60 fps must be at most this times imagezmq's (larger frames)."""
FPS_RATIO_GOAL: Final = 1.5
"""Ours' sustained fps must be at least this times imagezmq's (larger frames)."""
GOAL_FRAMES: Final = ("fluoro", "rgb1080p")
"""The frame kinds the ratio goals apply to."""
RATIO_KEYS: Final = {"orstream": "ratios", "orstream-shm": "ratios_shm"}
"""The key of each of our transports' ratios to imagezmq in a case."""
RECOMMENDED: Final = {"same_host": "orstream-shm", "cross_host": "orstream"}
"""Which of ours to use where: shared memory on one host, payloads on the socket across hosts
(shared memory is impossible there)."""


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """Each goal of the issue, checked against the measured figures, for each of ours.

    Flat latency with a slow receiver: ours' median latency in the last window is at most one
    consumer frame period (1/15 s) above the first window's, in both slow measurements.
    ``met_by_transport`` tells whether one of ours meets every goal; ``all_met`` whether both do.
    """
    flat_ms = round(1e3 / report["settings"]["slow_consumer_fps"], 1)
    checks: list[dict[str, Any]] = []
    for ours in OURS:
        for case in report["cases"]:
            if ours in case:
                checks += _checks(case, ours, flat_ms)
    met_by = {
        t: all(c["met"] for c in checks if c["transport"] == t)
        for t in OURS
        if any(c["transport"] == t for c in checks)
    }
    return {
        "flat_growth_ms_max": flat_ms,
        "checks": checks,
        "met_by_transport": met_by,
        "all_met": all(c["met"] for c in checks),
        "recommended": dict(RECOMMENDED),
    }


def _checks(case: dict[str, Any], ours: str, flat_ms: float) -> list[dict[str, Any]]:
    checks = []
    ratios = case.get(RATIO_KEYS[ours], {})
    if case["frame"] in GOAL_FRAMES:
        p99 = ratios.get("paced_p99")
        fps = ratios.get("sustained_fps")
        checks.append(
            _check(
                case,
                ours,
                f"p99 at 60 fps <= {P99_RATIO_GOAL}x imagezmq",
                p99,
                p99 is not None and p99 <= P99_RATIO_GOAL,
            )
        )
        checks.append(
            _check(
                case,
                ours,
                f"sustained fps >= {FPS_RATIO_GOAL}x imagezmq",
                fps,
                fps is not None and fps >= FPS_RATIO_GOAL,
            )
        )
    for mode in ("slow", "slow_unpaced"):
        if mode in case[ours]:
            growth = case[ours][mode].get("growth_ms")
            checks.append(
                _check(
                    case,
                    ours,
                    f"flat latency, {mode} receiver (growth <= {flat_ms} ms)",
                    growth,
                    growth is not None and growth <= flat_ms,
                )
            )
    return checks


def _check(
    case: dict[str, Any], transport: str, goal: str, value: float | None, met: bool
) -> dict[str, Any]:
    return {
        "transport": transport,
        "frame": case["frame"],
        "goal": goal,
        "value": value,
        "met": met,
    }


_COLUMNS: Final = (
    "frame",
    "transport",
    "sustained fps",
    "(its p50 ms)",
    "p50@60 ms",
    "p99@60 ms",
    "slow p50 first/last ms",
    "slow-unpaced first/last ms",
    "peak RSS MiB",
)
_RATIO_COLUMNS: Final = {
    "sustained_fps": "fps",
    "paced_p50": "p50@60",
    "paced_p99": "p99@60",
    "slow_p50_last": "slow last p50",
    "slow_unpaced_p50_last": "slow-unpaced last p50",
}


def render(report: dict[str, Any]) -> str:
    """The report as plain-text tables for a terminal."""
    m = report["machine"]
    s = report["settings"]
    lines = [
        f"orstream bench transport  ({m['date']})",
        f"machine: {m['cpu']}, {m['usable_cores']} of {m['cores']} cores, {m['memory_gib']} GiB;"
        f" {m['os']}; Python {m['python']}; pyzmq {m['pyzmq']} (libzmq {m['libzmq']});"
        f" imagezmq {m['imagezmq'] or 'not installed'}",
        f"settings: measurements {s['durations_s']} s, paced at {s['pace_fps']:g} fps, slow"
        f" consumer at {s['slow_consumer_fps']:g} fps, latency windows {s['window_s']} s,"
        f" RSS limit {s['rss_limit_gib']} GiB",
        "sustained: unpaced sender, frames the consumer got per second (and their p50 latency);"
        " @60: sender paced at 60 fps; slow: consumer at 15 fps, p50 latency in the first and"
        " the last window (* stopped early)",
        "",
    ]
    rows = [
        _row(case["frame"], LABELS[transport], case[transport])
        for case in report["cases"]
        for transport in TRANSPORTS
        if transport in case
    ]
    lines.append(format_table(_COLUMNS, rows))
    ratio_rows = [
        [c["frame"], LABELS[ours], *(r[key] for key in _RATIO_COLUMNS)]
        for c in report["cases"]
        for ours in OURS
        if (r := c.get(RATIO_KEYS[ours]))
    ]
    if ratio_rows:
        lines += ["", "ours / imagezmq (fps: higher is better; latency: lower is better)"]
        lines.append(format_table(["frame", "ours", *_RATIO_COLUMNS.values()], ratio_rows))
    else:
        lines += ["", f"imagezmq: {report['peers']['imagezmq']}"]
    lines += [
        "",
        "ours' receive path: consumer frames (overwritten: shared-memory slot reused before the"
        " consumer touched the frame, not counted; +N: reused during a slow consumer's work),"
        " socket frames incl. warm-up, ring frames (taken from the shared-memory ring; sent"
        " without a socket message: every subscriber followed the ring), stale"
        " (LatestFrameSource kept a newer one), overruns (slot reused before decode)",
        format_table(_PATH_COLUMNS, _path_rows(report)),
    ]
    lines += _notes(report)
    g = report.get("goals")
    if g:
        lines += ["", "goals:"]
        lines += [
            f"  [{'met' if c['met'] else 'MISSED'}] {LABELS[c['transport']]} {c['frame']}:"
            f" {c['goal']} (measured {c['value']})"
            for c in g["checks"]
        ]
        rec = g["recommended"]
        lines.append(
            f"recommended: {LABELS[rec['same_host']]} on one host,"
            f" {LABELS[rec['cross_host']]} across hosts (shared memory is impossible there)"
        )
    return "\n".join(lines)


_PATH_COLUMNS: Final = (
    "frame",
    "transport",
    "mode",
    "consumer frames",
    "overwritten",
    "socket frames",
    "ring frames (sent without socket msg)",
    "stale",
    "overruns",
    "wire p50/p99 ms",
    "consumer p50/p99 ms",
)


def _path_rows(report: dict[str, Any]) -> list[list[object]]:
    rows: list[list[object]] = []
    for case in report["cases"]:
        for ours in OURS:
            for mode, r in case.get(ours, {}).items():
                overwritten: object = r.get("overwritten")
                if "overwritten_during_work" in r:
                    overwritten = f"{overwritten} +{r['overwritten_during_work']}"
                rows.append(
                    [
                        case["frame"],
                        LABELS[ours],
                        mode,
                        r.get("received"),
                        overwritten,
                        r.get("wire_received"),
                        _ring_frames(r),
                        r.get("stale_dropped"),
                        r.get("overruns"),
                        f"{_fmt(r.get('wire_p50_ms'))} / {_fmt(r.get('wire_p99_ms'))}",
                        f"{_fmt(r.get('p50_ms'))} / {_fmt(r.get('p99_ms'))}",
                    ]
                )
    return rows


def _ring_frames(r: dict[str, Any]) -> object:
    """Frames taken from the ring and (in parentheses) those sent without a socket message."""
    followed = r.get("followed")
    return f"{followed} ({r.get('ring_only') or 0})" if followed else "-"


def _row(frame: str, transport: str, r: dict[str, Any]) -> list[object]:
    def get(mode: str, key: str) -> object:
        return r.get(mode, {}).get(key)

    def pair(mode: str) -> object:
        if mode not in r:
            return "skipped"
        star = "*" if r[mode].get("stopped_early") else ""
        return f"{_fmt(get(mode, 'p50_first_ms'))} / {_fmt(get(mode, 'p50_last_ms'))}{star}"

    peak = max((v.get("peak_rss_mib", {}).get("receiver", 0) for v in r.values()), default=0)
    return [
        frame,
        transport,
        get("sustained", "fps"),
        _fmt(get("sustained", "p50_ms")),
        _fmt(get("paced", "p50_ms")),
        _fmt(get("paced", "p99_ms")),
        pair("slow"),
        pair("slow_unpaced"),
        peak,
    ]


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 100 else f"{value:.2f}"
    return "-" if value is None else str(value)


def _notes(report: dict[str, Any]) -> list[str]:
    notes = []
    for case in report["cases"]:
        for transport in TRANSPORTS:
            label = LABELS[transport]
            for mode, r in case.get(transport, {}).items():
                if r.get("stopped_early"):
                    notes.append(
                        f"* {case['frame']} {label} {mode}: stopped early, {r['stopped_early']}"
                    )
                if r.get("error"):
                    notes.append(f"! {case['frame']} {label} {mode}: {r['error']}")
    return ["", *notes] if notes else []
