"""Cardiac cycle from the LV area curve: ED/ES frames, beats, EF and heart rate for a clip.

ED/ES detection (:func:`detect_ed_es`), with no fixed frame distance:

1. Frames where the LV was not found (nan) are filled by linear interpolation.
2. The dominant cycle length T (frames) is the highest peak of the curve's autocorrelation
   between 30 and 240 bpm; the earliest peak within 80 % of it wins, so that two or three
   cycles are not taken for one. It needs about 1.3 cycles in the clip; without it, T is taken
   as 0.8 s (75 bpm) for the smoothing only.
3. The curve is smoothed with a Gaussian of sigma T/16 (noise) and of sigma T/48 (timing).
4. On the heavily smoothed curve, maxima and minima whose prominence within one cycle on
   each side is at least ``prominence`` (default 0.25) of the curve's 2-98 % range are
   candidates. Near an end of the clip (less than half a cycle left on a side) only the
   other side counts: a maximum there, or at the very first or last frame, is an ED (clips
   triggered on the ECG R wave start at ED) if it reaches the level of the inner EDs; a
   minimum there is an ES only if the start of filling (a rise of half the threshold) is
   seen after it, and never at the last frame (the clip may stop mid-systole). Events are
   forced to alternate (of two maxima in a row the higher stays, of two minima the lower).
5. Each event moves to the first frame, within T/16 frames, that is within 2 % of the range
   of the lightly smoothed curve's extreme: the start of the isovolumic plateau, i.e. mitral
   closure for ED and aortic closure for ES. ED times for the heart rate are the lightly
   smoothed maxima with a parabolic sub-frame refinement.

ED = maxima, ES = minima; a beat runs from an ED to the next ED, with its ES between them.
Heart rate = 60 / mean ED-to-ED time (interior EDs when there are two or more, all EDs
otherwise, else the autocorrelation period). Quality flags come from the frames (see
:class:`FrameMeasurement`), plus "foreshortened" for frames whose long axis is under 70 % of
the clip's (90th percentile) longest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ._cardiac import FrameMeasurement, Spacing, measure_frame

F64 = npt.NDArray[np.float64]
_FORESHORTENED = 0.7  # long axis below this fraction of the clip's longest
_QUALITY = ("lv_not_found", "low_confidence", "foreshortened")
_PLATEAU = 0.02  # of the curve's range: frames this close to an extreme are on its plateau


def gaussian_smooth(curve: npt.ArrayLike, sigma: float) -> F64:
    """(N,) curve smoothed by a Gaussian of ``sigma`` samples (edges padded by replication)."""
    x = np.asarray(curve, np.float64)
    if sigma <= 0.3 or x.size < 3:
        return x.copy()
    r = max(1, math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return np.convolve(np.pad(x, r, mode="edge"), k / k.sum(), mode="valid")


def dominant_period_frames(
    curve: npt.ArrayLike, fps: float, hr_range_bpm: tuple[float, float] = (30.0, 240.0)
) -> float | None:
    """Dominant cycle length (frames, sub-frame) of an (N,) curve by autocorrelation; None
    when the clip is too short (under ~1.3 cycles) or has no periodicity."""
    x = np.asarray(curve, np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    lo = max(2, math.floor(fps * 60.0 / hr_range_bpm[1]))
    hi = min(math.ceil(fps * 60.0 / hr_range_bpm[0]), int(0.75 * n))
    if hi < lo + 2:
        return None
    t = np.arange(n)
    x = x - np.polyval(np.polyfit(t, x, 1), t)
    var = float(np.dot(x, x)) / n
    if var <= 0:
        return None
    ac = np.array([np.dot(x[: n - k], x[k:]) / (n - k) / var for k in range(hi + 2)])
    peaks = [k for k in range(lo, hi + 1) if ac[k] >= ac[k - 1] and ac[k] > ac[k + 1]]
    peaks = [k for k in peaks if ac[k] > 0.2]
    if not peaks:
        return None
    best = max(ac[k] for k in peaks)
    k = next(k for k in peaks if ac[k] >= 0.8 * best)
    return k + _vertex(ac[k - 1 : k + 2])


def _vertex(v: F64) -> float:
    den = float(v[0] - 2 * v[1] + v[2])
    return 0.0 if den >= 0 else float(np.clip(0.5 * (v[0] - v[2]) / den, -0.5, 0.5))


def _extrema(v: F64, thr: float, window: float) -> list[tuple[int, bool, bool]]:
    """(index, is_max, at_edge) of the plateau-centred extrema of ``v`` whose prominence within
    ``window`` samples on each side is at least ``thr``. A side cut short by the clip's end (less
    than half a window, no higher point) is not used, so that an extremum near either end counts
    with its one-sided prominence (and is ``at_edge`` when that side is under 1/8 window); a
    minimum near an end needs a rise of half ``thr`` toward the end (the start of filling). A
    maximum at an end counts; a minimum does not (the clip may stop mid-systole)."""
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    ends = np.r_[starts[1:], v.size]
    last = len(starts) - 1
    reach = max(2, round(window))
    out: list[tuple[int, bool, bool]] = []
    for j in range(len(starts)) if last > 0 else ():
        a, b = int(starts[j]), int(ends[j])
        edge = j in (0, last)
        for sign in (1.0, -1.0):
            w = sign * v
            val = w[a]
            if (j > 0 and w[starts[j - 1]] >= val) or (j < last and w[starts[j + 1]] >= val):
                continue
            bases: list[float] = []
            cut = False
            for side in (w[max(0, a - reach) : a][::-1], w[b : b + reach]):
                higher = np.flatnonzero(side > val)
                if higher.size:
                    bases.append(float(side[: higher[0]].min(initial=val)))
                elif side.size >= reach / 2:
                    bases.append(float(side.min()))
                elif sign < 0 and val - float(side.min(initial=val)) < 0.5 * thr:
                    bases.append(val)  # an ES needs the start of filling after it in the clip
                else:
                    cut = cut or side.size < reach / 8
            if edge and sign < 0:
                continue  # a minimum at the clip's end may be mid-systole: not an ES
            if bases and val - max(bases) >= thr:
                out.append(((a + b - 1) // 2, sign > 0, edge or cut))
    return out


@dataclass(frozen=True)
class CycleEvents:
    """ED/ES frames of a clip. ``ed``/``es``: frame indices; ``ed_t``: sub-frame ED times
    (frames); ``period_frames``: autocorrelation cycle length or None; ``edge_ed``: EDs at,
    or too near, an end of the clip to be timed exactly (less than 1/16 cycle beyond them)."""

    ed: tuple[int, ...]
    es: tuple[int, ...]
    ed_t: tuple[float, ...]
    period_frames: float | None
    edge_ed: tuple[int, ...]


def detect_ed_es(area_curve: npt.ArrayLike, fps: float, *, prominence: float = 0.25) -> CycleEvents:
    """ED (maxima) and ES (minima) frames of an (N,) LV area curve sampled at ``fps`` frames/s
    (nan for frames without an LV); see the module doc for the method."""
    if not fps > 0:
        raise ValueError(f"fps must be positive; got {fps}")
    a = np.asarray(area_curve, np.float64)
    ok = np.isfinite(a)
    if a.ndim != 1 or np.count_nonzero(ok) < 3:
        return CycleEvents((), (), (), None, ())
    t = np.arange(a.size)
    a = np.interp(t, t[ok], a[ok])
    period = dominant_period_frames(a, fps)
    cycle = period if period is not None else 0.8 * fps
    heavy, light = gaussian_smooth(a, cycle / 16), gaussian_smooth(a, cycle / 48)
    lo, hi = np.percentile(heavy, [2, 98])
    if hi - lo <= 0:
        return CycleEvents((), (), (), period, ())
    found = _extrema(heavy, prominence * float(hi - lo), cycle)
    inner = [heavy[i] for i, is_max, at_edge in found if is_max and not at_edge]
    if inner:  # an end of the clip is an ED only if it reaches the level of the inner EDs
        floor = float(np.median(inner)) - 0.15 * float(hi - lo)
        found = [e for e in found if not (e[1] and e[2] and heavy[e[0]] < floor)]
    events: list[tuple[int, bool, bool]] = []
    for i, is_max, at_edge in found:
        if events and events[-1][1] == is_max:
            if (heavy[i] > heavy[events[-1][0]]) == is_max:
                events[-1] = (i, is_max, at_edge)
            continue
        events.append((i, is_max, at_edge))
    r = max(1, round(cycle / 16))
    ed: list[int] = []
    es: list[int] = []
    ed_t: list[float] = []
    edge: list[int] = []
    for i, is_max, at_edge in events:
        w0, w1 = max(0, i - r), min(a.size, i + r + 1)
        seg = light[w0:w1] if is_max else -light[w0:w1]
        # The first frame on the extreme's plateau: mitral closure (ED), aortic closure (ES).
        k = w0 + int(np.argmax(seg >= seg.max() - _PLATEAU * float(hi - lo)))
        if is_max:
            ed.append(k)
            top = w0 + int(np.argmax(seg))  # timing for the heart rate: the smoothed maximum
            ed_t.append(top + (_vertex(light[top - 1 : top + 2]) if 0 < top < a.size - 1 else 0))
            if at_edge or k in (0, a.size - 1):
                edge.append(k)
        else:
            es.append(k)
    return CycleEvents(tuple(ed), tuple(es), tuple(ed_t), period, tuple(edge))


@dataclass(frozen=True)
class BeatMeasurement:
    """One beat: ED frame, its ES frame, the next ED frame (or None at the clip's end);
    volumes in ml (method of discs, and area-length), EF as a fraction 0..1, cycle in s.
    ``flags``: the quality flags of its ED and ES frames, plus "ed_at_edge" when its ED is the
    clip's first or last frame (normal for an ECG-triggered clip; the exact ED instant may lie
    outside the clip)."""

    ed_index: int
    es_index: int
    next_ed_index: int | None
    edv_ml: float
    esv_ml: float
    ef: float
    edv_al_ml: float
    esv_al_ml: float
    ef_al: float
    cycle_s: float | None
    flags: tuple[str, ...]

    @property
    def good(self) -> bool:
        """No quality flag (``ed_at_edge`` is information, not a quality problem)."""
        return not any(f in _QUALITY for f in self.flags)

    def to_json(self) -> dict[str, Any]:
        def num(v: float | None, nd: int) -> float | None:
            return None if v is None or not math.isfinite(v) else round(v, nd)

        return {
            "ed_index": self.ed_index,
            "es_index": self.es_index,
            "next_ed_index": self.next_ed_index,
            "edv_ml": num(self.edv_ml, 2),
            "esv_ml": num(self.esv_ml, 2),
            "ef": num(self.ef, 4),
            "edv_al_ml": num(self.edv_al_ml, 2),
            "esv_al_ml": num(self.esv_al_ml, 2),
            "ef_al": num(self.ef_al, 4),
            "cycle_s": num(self.cycle_s, 4),
            "hr_bpm": num(None if not self.cycle_s else 60.0 / self.cycle_s, 1),
            "flags": list(self.flags),
        }


def beats(
    frames: Sequence[FrameMeasurement], events: CycleEvents, fps: float
) -> list[BeatMeasurement]:
    """Per-beat EDV, ESV and EF from per-frame measurements and the clip's ED/ES events."""
    out = []
    eds, es_all = list(events.ed), list(events.es)
    for j, ed in enumerate(eds):
        nxt = eds[j + 1] if j + 1 < len(eds) else None
        between = [s for s in es_all if s > ed and (nxt is None or s < nxt)]
        if not between:
            continue
        es = between[0]
        fe, fs = frames[ed], frames[es]
        flags = sorted(set(fe.flags) | set(fs.flags))
        if ed in events.edge_ed:
            flags.append("ed_at_edge")
        cycle = None
        if nxt is not None:
            cycle = (events.ed_t[j + 1] - events.ed_t[j]) / fps
        out.append(
            BeatMeasurement(
                ed, es, nxt,
                fe.volume_discs_ml, fs.volume_discs_ml, _ef(fe.volume_discs_ml, fs.volume_discs_ml),
                fe.volume_al_ml, fs.volume_al_ml, _ef(fe.volume_al_ml, fs.volume_al_ml),
                cycle, tuple(flags),
            )
        )  # fmt: skip
    return out


def _ef(edv: float, esv: float) -> float:
    return (edv - esv) / edv if edv > 0 and math.isfinite(edv) and math.isfinite(esv) else math.nan


@dataclass(frozen=True)
class ClipMeasurement:
    """A clip's echo measurements: frames, beats, and means over the beats (ml, fraction, bpm).

    The means use the beats without quality flags when there are any (``used_flagged`` False),
    else all beats (``used_flagged`` True). ``hr_bpm``: from the mean ED-to-ED time.
    """

    fps: float
    frames: tuple[FrameMeasurement, ...]
    events: CycleEvents
    beats: tuple[BeatMeasurement, ...]
    edv_ml: float
    esv_ml: float
    ef: float
    ef_al: float
    hr_bpm: float | None
    used_flagged: bool

    def to_json(self) -> dict[str, Any]:
        def num(v: float | None, nd: int) -> float | None:
            return None if v is None or not math.isfinite(v) else round(v, nd)

        return {
            "fps": self.fps,
            "n_frames": len(self.frames),
            "n_beats": len(self.beats),
            "edv_ml": num(self.edv_ml, 2),
            "esv_ml": num(self.esv_ml, 2),
            "ef": num(self.ef, 4),
            "ef_area_length": num(self.ef_al, 4),
            "hr_bpm": num(self.hr_bpm, 1),
            "means_include_flagged_beats": self.used_flagged,
            "ed_frames": list(self.events.ed),
            "es_frames": list(self.events.es),
            "beats": [b.to_json() for b in self.beats],
            "frames": [f.to_json() for f in self.frames],
        }


def summarize_clip(frames: Sequence[FrameMeasurement], fps: float) -> ClipMeasurement:
    """ED/ES, beats, mean EDV/ESV/EF and heart rate from a clip's per-frame measurements
    (one per frame, in order); adds the clip-level "foreshortened" flag to short frames."""
    lengths = np.array([f.length_mm for f in frames], np.float64)
    ok = np.isfinite(lengths)
    if ok.any():
        ref = float(np.percentile(lengths[ok], 90))
        frames = [
            replace(f, flags=(*f.flags, "foreshortened"))
            if f.found and f.length_mm < _FORESHORTENED * ref and "foreshortened" not in f.flags
            else f
            for f in frames
        ]
    events = detect_ed_es([f.area_mm2 for f in frames], fps)
    bs = beats(frames, events, fps)
    use = [b for b in bs if b.good] or bs
    interior = [t for t, k in zip(events.ed_t, events.ed, strict=True) if k not in events.edge_ed]
    times = interior if len(interior) >= 2 else list(events.ed_t)
    hr: float | None = None
    if len(times) >= 2:
        hr = 60.0 * fps * (len(times) - 1) / (times[-1] - times[0])
    elif events.period_frames is not None:
        hr = 60.0 * fps / events.period_frames

    def mean(vals: list[float]) -> float:
        v = [x for x in vals if math.isfinite(x)]
        return float(np.mean(v)) if v else math.nan

    return ClipMeasurement(
        float(fps),
        tuple(frames),
        events,
        tuple(bs),
        mean([b.edv_ml for b in use]),
        mean([b.esv_ml for b in use]),
        mean([b.ef for b in use]),
        mean([b.ef_al for b in use]),
        hr,
        bool(bs) and not any(b.good for b in bs),
    )


def measure_clip(
    masks: Sequence[npt.NDArray[Any]] | npt.NDArray[Any],
    spacing_mm: float | Spacing,
    fps: float,
    *,
    probs: Sequence[npt.NDArray[Any]] | None = None,
    n_discs: int = 20,
) -> ClipMeasurement:
    """Echo measurements of a clip of LV cavity masks, (N, H, W) or N x (H, W), at ``fps``
    frames/s; ``probs``: optional N x (C, H, W) class probabilities (for the confidence)."""
    if not fps > 0:
        raise ValueError(f"fps must be positive; got {fps}")
    frames = [
        measure_frame(
            m, spacing_mm, index=i, t_s=i / fps, probs=None if probs is None else probs[i],
            n_discs=n_discs,
        )
        for i, m in enumerate(masks)
    ]  # fmt: skip
    return summarize_clip(frames, fps)
