"""The tables of ``orstream bench streams``: one row per number of streams, then the verdict."""

from __future__ import annotations

from typing import Any, Final

from ._common import format_table

P99_BOUND_MS: Final = 40.0
"""The latency bound: a result at most two frame periods (2 x 20 ms) after its capture."""


def why_stopped(case: dict[str, Any]) -> str:
    """Why a case did not hold: its errors, its drops or its p99."""
    if case["errors"]:
        return "errors: " + "; ".join(case["errors"])
    if case["drops"]:
        return f"{case['drops']} dropped frames at {case['streams']} streams"
    return f"p99 {case['latency_ms']['p99']} ms > {P99_BOUND_MS:g} ms at {case['streams']} streams"


def progress_line(c: dict[str, Any]) -> str:
    """One case on one line, for progress output."""
    lat = c["latency_ms"]
    return (
        f"{c['streams']:2} streams: {c['processed']}/{c['sent']} frames, drops {c['drops']}, "
        f"fps/stream min {c['fps_per_stream']['min']}, p50 {lat['p50']} p99 {lat['p99']} ms, "
        f"batch {c['batch_mean']}, engine {c['engine_cpu_cores']} cores"
        + ("" if c["ok"] else "  <- stops here")
    )


def render(report: dict[str, Any]) -> str:
    """One row per N, then the verdict."""
    rows = [
        [c["streams"], c["sent"], c["processed"], c["drops"], c["fps_per_stream"]["min"],
         c["fps_per_stream"]["mean"], c["latency_ms"]["p50"], c["latency_ms"]["p99"],
         c["latency_ms"]["max"], c["batch_mean"], c["engine_cpu_cores"],
         "held" if c["ok"] else "FAILED"]
        for c in report["cases"]
    ]  # fmt: skip
    header = ["streams", "sent", "processed", "drops", "fps/stream min", "mean", "p50 ms",
              "p99 ms", "max ms", "batch", "engine cores", "result"]  # fmt: skip
    single = [
        [c["streams"], o["drops"], o["fps_per_stream"]["min"], o["latency_ms"]["p50"],
         o["latency_ms"]["p99"], o["engine_cpu_cores"], "held" if o["ok"] else "FAILED"]
        for c in report["cases"]
        if (o := c.get("one_at_a_time"))
    ]  # fmt: skip
    m, s, g = report["machine"], report["settings"], report["goal"]
    lines = [
        f"orstream bench streams ({m['date']}; {m['cpu']}, {m['usable_cores']} cores, load "
        f"{m['load_avg_1m']} -> {m['load_avg_1m_end']})",
        f"{s['fps']:g}-fps echo devices, {s['duration_s']:g} s counted per N after "
        f"{s['warmup_s']:g} s warm-up; held = zero drops and p99 <= {s['p99_bound_ms']:g} ms",
        format_table(header, rows),
        f"most streams held: {report['most_streams_held']} (goal >= {g['streams_min']}: "
        f"{'met' if g['met'] else 'MISSED'})"
        + (f"; stopped by {g['stopped_by']}" if g["stopped_by"] else ""),
    ]
    if single:
        lines += [
            "the same N with the engine taking one frame at a time in one thread (workers=1,"
            " max_batch=1):",
            format_table(
                [
                    "streams",
                    "drops",
                    "fps/stream min",
                    "p50 ms",
                    "p99 ms",
                    "engine cores",
                    "result",
                ],
                single,
            ),
        ]
    return "\n".join(lines)
