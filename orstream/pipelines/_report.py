"""The echo-lab report of ``orstream measure --report PATH.html``: one self-contained HTML page.

It holds the numbers, the LV volume curve with ED and ES marked, the ED and ES frames of the
first beat with the LV contour, and a plain-language summary using the EF ranges of the
universal definition of heart failure (2021): >= 50 % normal, 41-49 % mildly reduced, <= 40 %
reduced. Images are drawn with OpenCV and embedded as PNG; no patient identifiers are written.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

_PLOT_W, _PLOT_H, _MARGIN = 720, 260, 40


def ef_category(ef: float | None) -> str:
    """ "normal", "mildly reduced" or "reduced" for an EF fraction (0-1), or "not measured"."""
    if ef is None:
        return "not measured"
    if ef >= 0.50:
        return "normal"
    return "mildly reduced" if ef > 0.40 else "reduced"


def summary_sentence(doc: dict[str, Any]) -> str:
    """One plain-language sentence for the cardiologist reading the report."""
    ef, hr = doc["ef"], doc["heart_rate_bpm"]
    if ef is None:
        return "No complete heartbeat was found in the clip, so no ejection fraction is given."
    beats = len([b for b in doc["beats"] if b["ef"] is not None])
    rate = "" if hr is None else f" at a heart rate of {hr:.0f} beats per minute"
    return (
        f"The left ventricular ejection fraction is {ef * 100:.0f} % ({ef_category(ef)}), the "
        f"mean of {beats} beat{'s' if beats != 1 else ''}{rate}, by the single-plane method "
        "of discs."
    )


def _percent(fraction: float | None) -> str:
    return "" if fraction is None else f"{fraction * 100:.1f} %"


def _png(image: npt.NDArray[np.uint8]) -> str:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("cannot encode the report image")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode()


def volume_plot(doc: dict[str, Any]) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 BGR plot of LV volume (ml) over time (s), ED (red) and ES (blue)."""
    img = np.full((_PLOT_H, _PLOT_W, 3), 255, np.uint8)
    t = np.array([f["t_s"] for f in doc["frames"]], np.float64)
    v = np.array(
        [np.nan if f["lv_volume_ml"] is None else f["lv_volume_ml"] for f in doc["frames"]]
    )
    if not np.isfinite(v).any() or len(t) < 2:
        return img
    v_max = float(np.nanmax(v)) * 1.1 or 1.0
    x = _MARGIN + (t - t[0]) / max(t[-1] - t[0], 1e-9) * (_PLOT_W - 2 * _MARGIN)
    y = _PLOT_H - _MARGIN - np.nan_to_num(v) / v_max * (_PLOT_H - 2 * _MARGIN)
    cv2.line(img, (_MARGIN, _PLOT_H - _MARGIN), (_PLOT_W - _MARGIN, _PLOT_H - _MARGIN), (0, 0, 0))
    cv2.line(img, (_MARGIN, _MARGIN // 2), (_MARGIN, _PLOT_H - _MARGIN), (0, 0, 0))
    points = np.stack([x, y], 1)[np.isfinite(v)].round().astype(np.int32)
    cv2.polylines(img, [points.reshape(-1, 1, 2)], False, (60, 60, 60), 2, cv2.LINE_AA)
    for key, colour in (("ed_frame", (40, 40, 220)), ("es_frame", (220, 90, 30))):
        for beat in doc["beats"]:
            i = beat[key]
            if i is not None and np.isfinite(v[i]):
                cv2.circle(img, (int(x[i]), int(y[i])), 6, colour, -1, cv2.LINE_AA)
    label = f"LV volume (ml), 0-{v_max:.0f}; time 0-{t[-1] - t[0]:.2f} s; ED red, ES blue"
    cv2.putText(img, label, (_MARGIN, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    return img


def contour_frame(frame: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
    """The grey frame in colour with the LV mask's contour in green, scaled to 320 px wide."""
    bgr = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    found, _ = cv2.findContours(
        (mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    cv2.drawContours(bgr, found, -1, (60, 220, 60), 1, cv2.LINE_AA)
    scale = 320 / bgr.shape[1]
    return cv2.resize(bgr, (320, round(bgr.shape[0] * scale)), interpolation=cv2.INTER_NEAREST)


def write_report(
    path: Path, doc: dict[str, Any], frames: npt.NDArray[np.uint8], masks: list[Any]
) -> None:
    """Write the HTML report of ``doc`` (the measure command's JSON) for ``frames`` (N, H, W)
    uint8 and their LV masks."""
    e = html.escape
    beat_rows = "".join(
        f"<tr><td>{i}</td><td>{b['ed_frame']}</td><td>{b['es_frame']}</td><td>{b['edv_ml']}</td>"
        f"<td>{b['esv_ml']}</td><td>{_percent(b['ef'])}</td>"
        f"<td>{e(' '.join(b['quality']))}</td></tr>"
        for i, b in enumerate(doc["beats"], 1)
    )
    images = ""
    if doc["beats"]:
        first = doc["beats"][0]
        for name, key in (("End-diastole", "ed_frame"), ("End-systole", "es_frame")):
            i = first[key]
            if i is not None:
                src = _png(contour_frame(frames[i], masks[i]))
                images += (
                    f"<figure><img src='{src}'><figcaption>{name}, frame {i}</figcaption></figure>"
                )
    ef = _percent(doc["ef"]) or "-"
    hr = "-" if doc["heart_rate_bpm"] is None else f"{doc['heart_rate_bpm']:.0f} bpm"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>orstream echo report</title>
<style>body{{font-family:sans-serif;max-width:760px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:2px 8px}}
figure{{display:inline-block;margin:0 12px 0 0}}</style></head><body>
<h1>Echo measurements</h1>
<p><b>{e(summary_sentence(doc))}</b></p>
<table><tr><th>EF</th><td>{ef} ({e(ef_category(doc["ef"]))})</td></tr>
<tr><th>Heart rate</th><td>{hr}</td></tr>
<tr><th>EDV / ESV (mean)</th><td>{doc["edv_ml"]} ml / {doc["esv_ml"]} ml</td></tr>
<tr><th>EF by area-length</th><td>{doc["ef_area_length"]}</td></tr>
<tr><th>Method</th><td>{e(doc["method"])}</td></tr>
<tr><th>Input</th><td>{e(doc["input"])}, {doc["fps"]:.1f} frames/s,
spacing {doc["spacing_mm"]} mm</td></tr></table>
<h2>LV volume over time</h2><img src="{_png(volume_plot(doc))}">
<h2>Beats</h2><table><tr><th>beat</th><th>ED frame</th><th>ES frame</th><th>EDV ml</th>
<th>ESV ml</th><th>EF</th><th>quality</th></tr>{beat_rows}</table>
<h2>First beat, LV contour</h2>{images}
<p><small>EF ranges: universal definition of heart failure (2021). Automated measurements for
research; not for clinical use.</small></p></body></html>
"""
    path.write_text(page, encoding="utf-8")
