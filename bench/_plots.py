"""PNG charts of the benchmark reports, drawn with OpenCV (already a dependency; matplotlib
is not), each stamped with the machine and date of its run.

:func:`plots_for` turns one report into its charts: ``(file name, title)`` pairs written into
a folder. The charts are deliberately plain: axes, ticks, a legend, the figures' own labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

WIDTH: Final = 960
HEIGHT: Final = 560
CHART_SHAPE: Final = (HEIGHT, WIDTH, 3)
"""(rows, columns, channels) of every chart image."""
_LEFT, _RIGHT, _TOP, _BOTTOM = 90, 30, 64, 110
_FONT: Final = cv2.FONT_HERSHEY_SIMPLEX
_BLACK, _GREY, _LIGHT = (30, 30, 30), (130, 130, 130), (225, 225, 225)
PALETTE: Final = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148))
"""Series colours (BGR): blue, orange, green, red, purple."""
Image = npt.NDArray[np.uint8]


def stamp_text(machine: dict[str, Any]) -> str:
    """One line naming the machine and the date of a run."""
    cores = f"{machine.get('usable_cores')} of {machine.get('cores')} cores"
    load = machine.get("load_avg_1m")
    return (
        f"{machine.get('cpu')}, {cores}, {machine.get('memory_gib')} GiB; {machine.get('os')};"
        f" Python {machine.get('python')}; {machine.get('date')}; load {load}"
    )


def _text(img: Image, text: str, xy: tuple[int, int], scale: float = 0.45, **kw: Any) -> None:
    cv2.putText(img, text, xy, _FONT, scale, kw.get("color", _BLACK), 1, cv2.LINE_AA)


def _text_width(text: str, scale: float = 0.45) -> int:
    return int(cv2.getTextSize(text, _FONT, scale, 1)[0][0])


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (about ``count`` of them)."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.1e}"


class _Axes:
    """A canvas with a title, the machine stamp and axes over [x0, x1] x [y0, y1]."""

    def __init__(
        self,
        title: str,
        stamp: str,
        xlim: tuple[float, float],
        yticks: list[float],
        labels: tuple[str, str],
    ) -> None:
        self.img: Image = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
        self.x0, self.x1 = xlim
        self.y0, self.y1 = yticks[0], yticks[-1]
        _text(self.img, title, (_LEFT, 30), 0.62)
        for k, line in enumerate(_wrap(stamp, 130)):
            _text(self.img, line, (10, HEIGHT - 34 + 16 * k), 0.38, color=_GREY)
        for y in yticks:
            py = self.py(y)
            cv2.line(self.img, (_LEFT, py), (WIDTH - _RIGHT, py), _LIGHT, 1)
            label = _fmt(y)
            _text(self.img, label, (_LEFT - 8 - _text_width(label), py + 5))
        cv2.rectangle(self.img, (_LEFT, _TOP), (WIDTH - _RIGHT, HEIGHT - _BOTTOM), _BLACK, 1)
        xlabel, ylabel = labels
        _text(self.img, xlabel, ((WIDTH - _text_width(xlabel)) // 2, HEIGHT - _BOTTOM + 44))
        _text(self.img, ylabel, (8, _TOP - 12))

    def px(self, x: float) -> int:
        span = (self.x1 - self.x0) or 1.0
        return round(_LEFT + (x - self.x0) / span * (WIDTH - _LEFT - _RIGHT))

    def py(self, y: float) -> int:
        span = (self.y1 - self.y0) or 1.0
        return round(HEIGHT - _BOTTOM - (y - self.y0) / span * (HEIGHT - _TOP - _BOTTOM))

    def xtick(self, x: float, label: str) -> None:
        px = self.px(x)
        cv2.line(self.img, (px, HEIGHT - _BOTTOM), (px, HEIGHT - _BOTTOM + 5), _BLACK, 1)
        _text(self.img, label, (px - _text_width(label) // 2, HEIGHT - _BOTTOM + 22))

    def hline(self, y: float, label: str) -> None:
        py = self.py(y)
        for x in range(_LEFT, WIDTH - _RIGHT, 12):
            cv2.line(self.img, (x, py), (min(x + 6, WIDTH - _RIGHT), py), (40, 39, 214), 1)
        _text(
            self.img, label, (WIDTH - _RIGHT - _text_width(label) - 4, py - 6), color=(40, 39, 214)
        )

    def legend(self, names: Sequence[str]) -> None:
        x = _LEFT + 10
        for k, name in enumerate(names):
            colour = PALETTE[k % len(PALETTE)]
            cv2.rectangle(self.img, (x, _TOP + 10), (x + 14, _TOP + 22), colour, -1)
            _text(self.img, name, (x + 20, _TOP + 21))
            x += _text_width(name) + 44

    def save(self, path: Path) -> None:
        if not cv2.imwrite(str(path), self.img):
            raise OSError(f"cannot write {path}")


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line][:2]


def bar_chart(
    path: Path,
    title: str,
    stamp: str,
    *,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    ylabel: str,
    hline: tuple[float, str] | None = None,
) -> None:
    """Grouped bars: one group per ``groups`` entry, one bar per series (None: no bar)."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = max([*values, hline[0] if hline else 0.0, 1e-9])
    axes = _Axes(title, stamp, (0.0, float(len(groups))), nice_ticks(0.0, top * 1.1), ("", ylabel))
    width = 0.8 / max(1, len(series))
    for g, group in enumerate(groups):
        axes.xtick(g + 0.5, group)
        for k, (_, vs) in enumerate(series):
            value = vs[g]
            if value is None:
                continue
            left = g + 0.1 + k * width
            a, b = axes.px(left), axes.px(left + width) - 2
            cv2.rectangle(axes.img, (a, axes.py(value)), (b, axes.py(0.0)), PALETTE[k % 5], -1)
            label = f"{value:.3g}"
            _text(
                axes.img, label, ((a + b - _text_width(label, 0.38)) // 2, axes.py(value) - 4), 0.38
            )
    if hline is not None:
        axes.hline(*hline)
    axes.legend([name for name, _ in series])
    axes.save(path)


def line_chart(
    path: Path,
    title: str,
    stamp: str,
    *,
    series: Sequence[tuple[str, Sequence[float], Sequence[float | None]]],
    labels: tuple[str, str],
    hline: tuple[float, str] | None = None,
    xticks: Sequence[tuple[float, str]] | None = None,
    points_only: Sequence[int] = (),
) -> None:
    """Lines with markers of (x, y) series (markers only for the series indices in
    ``points_only``); None values are skipped."""
    xs = [x for _, sx, _ in series for x in sx]
    ys = [y for _, _, sy in series for y in sy if y is not None]
    if hline is not None:
        ys.append(hline[0])
    lo_y = min([0.0, *ys])
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    pad = (x1 - x0) * 0.05 or 0.5
    axes = _Axes(
        title, stamp, (x0 - pad, x1 + pad), nice_ticks(lo_y, max(ys or [1.0]) * 1.1), labels
    )
    for x, label in xticks if xticks is not None else [(t, _fmt(t)) for t in nice_ticks(x0, x1)]:
        if x0 - pad <= x <= x1 + pad:
            axes.xtick(x, label)
    order = sorted(range(len(series)), key=lambda k: k in points_only)  # markers on top
    for k in order:
        _, sx, sy = series[k]
        colour = PALETTE[k % len(PALETTE)]
        points = [(axes.px(x), axes.py(y)) for x, y in zip(sx, sy, strict=True) if y is not None]
        if k not in points_only and len(points) > 1:
            cv2.polylines(axes.img, [np.array(points, np.int32)], False, colour, 2, cv2.LINE_AA)
        for point in points:
            cv2.circle(axes.img, point, 4, colour, -1, cv2.LINE_AA)
    if hline is not None:
        axes.hline(*hline)
    axes.legend([name for name, _, _ in series])
    axes.save(path)


def _e2e(report: dict[str, Any], out: Path, stamp: str) -> list[tuple[str, str]]:
    keys = ("p50", "p99", "max")
    series = [
        (name, [(report[name].get("latency_ms") or {}).get(k) for k in keys])
        for name in ("orstream", "imagezmq")
    ]
    title = f"e2e: echo at {report['settings']['fps']:g} fps, capture-to-result latency (ms)"
    bar_chart(out / "e2e.png", title, stamp, groups=keys, series=series, ylabel="ms")
    return [("e2e.png", title)]


def _streams(report: dict[str, Any], out: Path, stamp: str) -> list[tuple[str, str]]:
    cases = report["cases"]
    n = [float(c["streams"]) for c in cases]
    bound = float(report["settings"]["p99_bound_ms"])
    title = "streams: latency vs concurrent 50-fps echo streams"
    line_chart(
        out / "streams_latency.png",
        title,
        stamp,
        series=[
            ("p50", n, [c["latency_ms"]["p50"] for c in cases]),
            ("p99", n, [c["latency_ms"]["p99"] for c in cases]),
        ],
        labels=("streams", "ms"),
        hline=(bound, f"bound {bound:g} ms"),
        xticks=[(x, f"{x:g}") for x in n],
    )
    title2 = "streams: dropped frames and the slowest stream's fps vs streams"
    bar_chart(
        out / "streams_drops.png",
        title2,
        stamp,
        groups=[f"N = {c['streams']}" for c in cases],
        series=[
            ("drops", [float(c["drops"]) for c in cases]),
            ("fps of the slowest stream", [c["fps_per_stream"]["min"] for c in cases]),
            *(
                [("drops, one frame at a time", [c["one_at_a_time"]["drops"] for c in cases])]
                if all("one_at_a_time" in c for c in cases)
                else []
            ),
        ],
        ylabel="frames / fps",
        hline=(float(report["settings"]["fps"]), "device fps"),
    )
    return [("streams_latency.png", title), ("streams_drops.png", title2)]


def _overhead(report: dict[str, Any], out: Path, stamp: str) -> list[tuple[str, str]]:
    cases = report["cases"]
    title = "overhead: microseconds per frame through identity stages, one thread"
    series = [
        ("orstream Pipeline", [c["orstream_us"] for c in cases]),
        ("plain Python loop", [c["plain_loop_us"] for c in cases]),
        ("Holoscan (Python API)", [c["holoscan_us"] for c in cases]),
    ]
    groups = [f"{c['stages']} stage(s)" for c in cases]
    bar_chart(out / "overhead.png", title, stamp, groups=groups, series=series, ylabel="us")
    return [("overhead.png", title)]


def _transport(report: dict[str, Any], out: Path, stamp: str) -> list[tuple[str, str]]:
    groups, tcp, shm = [], [], []
    for case in report["cases"]:
        for key, label in (("sustained_fps", "fps"), ("paced_p99", "p99@60")):
            groups.append(f"{case['frame']} {label}")
            tcp.append((case.get("ratios") or {}).get(key))
            shm.append((case.get("ratios_shm") or {}).get(key))
    title = "transport: ours / imagezmq (fps: higher is better; p99: lower is better)"
    bar_chart(
        out / "transport.png",
        title,
        stamp,
        groups=groups,
        series=[("orstream-tcp", tcp), ("orstream-shm", shm)],
        ylabel="ratio",
        hline=(1.0, "imagezmq"),
    )
    return [("transport.png", title)]


def _inference(report: dict[str, Any], out: Path, stamp: str) -> list[tuple[str, str]]:
    cases = report["cases"]
    series = [
        (b, [c["backends"].get(b, {}).get("p50_ms") for c in cases]) for b in report["backends"]
    ]
    title = "inference: p50 ms per frame at batch 1, one thread"
    groups = [c["model"] for c in cases]
    bar_chart(out / "inference.png", title, stamp, groups=groups, series=series, ylabel="ms")
    return [("inference.png", title)]


def _sim(report: dict[str, Any], out: Path, stamp: str) -> list[tuple[str, str]]:
    cases = report["cases"]
    title = "sim: frames per CPU-second per case (and the goal where there is one)"
    bar_chart(
        out / "sim.png",
        title,
        stamp,
        groups=[c["case"] for c in cases],
        series=[
            ("frames/CPU-s", [c["fps_cpu"] for c in cases]),
            ("goal", [c["goal_fps"] for c in cases]),
        ],
        ylabel="frames per CPU-second",
    )
    return [("sim.png", title)]


def _echo_ef(report: dict[str, Any], out: Path, stamp: str) -> list[tuple[str, str]]:
    clips = [c for c in report["clips"] if c["ef"] is not None]
    title = "echo_ef: measured EF vs the simulator's truth"
    line_chart(
        out / "echo_ef.png",
        title,
        stamp,
        series=[
            ("measured", [c["ef_true"] for c in clips], [c["ef"] for c in clips]),
            ("identity", [0.2, 0.8], [0.2, 0.8]),
        ],
        labels=("true EF", "measured EF"),
        points_only=[0],
    )
    return [("echo_ef.png", title)]


PLOTTERS: Final[dict[str, Callable[[dict[str, Any], Path, str], list[tuple[str, str]]]]] = {
    "e2e": _e2e,
    "streams": _streams,
    "overhead": _overhead,
    "transport": _transport,
    "inference": _inference,
    "sim": _sim,
    "echo_ef": _echo_ef,
}


def plots_for(name: str, report: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """Write the charts of benchmark ``name``'s report into ``out``; (file name, title) each."""
    plotter = PLOTTERS.get(name)
    if plotter is None:
        return []
    return plotter(report, out, stamp_text(report.get("machine", {})))
