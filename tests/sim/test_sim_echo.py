"""Echo simulator: physiology (EF, heart rate, volume curve), masks, views, determinism."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from orstream.sim import (
    ECHO_RANGES,
    ECHO_VIEWS,
    CardiacCycle,
    EchoSimulator,
    SectorGeometry,
    SimFrame,
    Simulator,
)


def _clip(sim: EchoSimulator, n: int = 60) -> list[SimFrame]:
    return [sim.render(i) for i in range(n)]


def _hr_from_curve(v: np.ndarray, fps: float) -> float:
    """Heart rate (bpm) as the lag (sub-frame) at which the volume curve best repeats."""
    t = np.arange(v.size) / fps
    best, best_lag = np.inf, 0.0
    for lag in np.linspace(0.4, 1.2, 1601):
        ok = t + lag <= t[-1]
        if ok.sum() < 10:
            break
        err = float(np.mean((np.interp(t[ok] + lag, t, v) - v[ok]) ** 2))
        if err < best:
            best, best_lag = err, float(lag)
    return 60.0 / best_lag


def _turns(x: np.ndarray) -> list[int]:
    """Indices where a series changes direction (plateaus ignored)."""
    d = np.sign(np.diff(x))
    idx = [i for i in range(d.size) if d[i] != 0]
    return [idx[k + 1] for k in range(len(idx) - 1) if d[idx[k]] != d[idx[k + 1]]]


def test_protocol_and_acceptance_clip() -> None:
    sim = EchoSimulator(seed=1, ef=0.55, hr_bpm=75)
    proto: Simulator = sim  # the Simulator protocol, checked statically
    assert all(hasattr(proto, a) for a in ("modality", "fps", "spacing_mm", "geometry"))
    assert sim.modality == "echo"
    frames = _clip(sim)
    vol = np.array([f.truth["lv_volume_ml"] for f in frames])
    ef = 1.0 - vol.min() / vol.max()
    assert ef == pytest.approx(0.55, abs=0.02)
    assert _hr_from_curve(vol, sim.fps) == pytest.approx(75.0, abs=1.0)
    d = sim.describe()
    assert d["ef"] == 0.55 and d["hr_bpm"] == 75.0
    assert 1.0 - d["esv_ml"] / d["edv_ml"] == pytest.approx(0.55, abs=1e-9)
    json.dumps(d)
    json.dumps(frames[0].truth)
    f = frames[0]
    assert f.image.shape == (128, 128) and f.image.dtype == np.uint8
    assert f.labels.shape == (128, 128) and f.labels.dtype == np.uint8
    assert f.image.flags.c_contiguous and f.labels.flags.c_contiguous
    assert sim.label_names[:3] == ("background", "lv_cavity", "lv_myocardium")
    assert sim.geometry["kind"] == "sector"


def test_lv_area_has_one_max_and_one_min_per_beat() -> None:
    sim = EchoSimulator(seed=1, ef=0.55, hr_bpm=75)
    frames = _clip(sim)
    area = np.array([f.truth["lv_area_mm2"] for f in frames])
    turns = _turns(area)
    ed = [f.index for f in frames if f.truth["ed"]]
    es = [f.index for f in frames if f.truth["es"]]
    # 60 frames at 50 fps and 75 bpm: 1.5 beats, so 2 or 3 ED/ES events and as many turns.
    assert 2 <= len(turns) <= 3
    assert len(turns) <= len(ed) + len(es)
    for k in turns:  # each turn sits on the ED/ES plateau (isovolumic phases)
        nearest = min(ed + es, key=lambda e: abs(e - k))
        assert abs(nearest - k) <= 4
    # The area follows the volume: largest at ED, smallest at ES.
    assert area[ed[0]] > area.mean() > area[es[0]]
    period = 60.0 / 75.0 * sim.fps
    assert all(abs(b - a - period) <= 1 for a, b in itertools.pairwise(ed))


@pytest.mark.parametrize(("ef", "hr"), [(0.25, 50.0), (0.4, 95.0), (0.7, 110.0)])
def test_ef_and_rate_across_range(ef: float, hr: float) -> None:
    sim = EchoSimulator(seed=5, ef=ef, hr_bpm=hr, fps=60.0)
    vol = np.array([sim.phantom.state(i / 200).lv_volume_ml for i in range(400)])
    assert 1.0 - vol.min() / vol.max() == pytest.approx(ef, abs=1e-3)
    assert _hr_from_curve(vol, 200.0) == pytest.approx(hr, abs=1.0)


def test_volume_curve_phases() -> None:
    """Systole, rapid filling, diastasis and atrial kick, in that order, at 60 bpm."""
    cy = CardiacCycle(60.0, 0.6, e_fraction=0.7)
    ph = np.linspace(0.0, 1.0, 1000, endpoint=False)
    v = np.array([cy.volume_fraction(float(p)) for p in ph])
    assert v[0] == 1.0 and v.min() == 0.0
    i_es = int(np.argmin(v))
    assert np.all(np.diff(v[: i_es + 1]) <= 1e-12)  # monotone ejection
    assert np.all(np.diff(v[i_es:]) >= -1e-12)  # monotone filling
    rate = np.diff(v[i_es:])
    fast = (rate > 0.2 * rate.max()).astype(int)
    starts = np.flatnonzero(np.diff(fast) == 1)
    assert starts.size == 2  # E wave and A wave, separated by slow filling (diastasis)
    e_peak = rate[: starts[1]].max()
    a_peak = rate[starts[1] :].max()
    assert e_peak > a_peak > 0  # E > A
    assert rate[starts[1] - 5] < 0.1 * e_peak
    mitral = [cy.valve_openings(float(p))[0] for p in ph]
    assert max(mitral[:i_es]) == 0.0 and max(mitral) > 0.9


def test_analytic_volume_matches_voxels() -> None:
    sim = EchoSimulator(seed=2, ef=0.45, hr_bpm=70, randomize=False)
    g = np.arange(-45.0, 150.0, 0.6, dtype=np.float32)
    x, y, z = np.meshgrid(g[g < 45], g[g < 45], g, indexing="ij")
    for t in (0.0, 0.25, 0.45):
        st = sim.phantom.state(t)
        cav, myo = sim.phantom.lv_masks(st, x, y, z)
        assert cav.sum() * 0.6**3 / 1000 == pytest.approx(st.lv_volume_ml, rel=0.01)
        assert myo.sum() * 0.6**3 / 1000 == pytest.approx(sim.phantom.myo_ml, rel=0.02)


def test_deterministic_bit_for_bit_and_order_free() -> None:
    a = EchoSimulator(seed=7, view="a2c")
    b = EchoSimulator(seed=7, view="a2c")
    for i in (12, 3, 40, 3):
        fa, fb = a.render(i), b.render(i)
        assert np.array_equal(fa.image, fb.image) and np.array_equal(fa.labels, fb.labels)
        assert fa.truth == fb.truth
    assert a.describe() == b.describe()
    c = EchoSimulator(seed=8, view="a2c")
    assert not np.array_equal(a.render(3).image, c.render(3).image)


def test_masks_follow_rendered_cavity() -> None:
    for seed in (1, 2, 3):
        sim = EchoSimulator(seed=seed, randomize=False)
        f = sim.render(10)
        img = f.image.astype(np.float32)
        lv = (f.labels == 1).astype(np.uint8)
        k = np.ones((3, 3), np.uint8)
        inner = cv2.erode(lv, k, iterations=2).astype(bool)
        myo = f.labels == 2
        assert img[inner].mean() + 40.0 < img[myo].mean()
        # The image edge sits on the mask border: just outside is bright, just inside dark.
        ring_in = lv.astype(bool) & ~cv2.erode(lv, k, iterations=2).astype(bool)
        ring_out = cv2.dilate(lv, k, iterations=2).astype(bool) & ~lv.astype(bool)
        assert np.median(img[ring_out]) > np.median(img[ring_in]) + 20.0


@pytest.mark.parametrize("view", ECHO_VIEWS)
def test_views_show_their_chambers(view: str) -> None:
    sim = EchoSimulator(seed=4, view=view, randomize=False)
    f = sim.render(0)
    present = {int(c) for c in np.unique(f.labels) if np.count_nonzero(f.labels == c) > 20}
    assert {1, 2} <= present
    if view == "a4c":
        assert {3, 4, 5} <= present
        # ASE orientation: RV on the left of the LV, atria below the ventricles.
        cols = {c: np.nonzero(f.labels == c)[1].mean() for c in (1, 3)}
        rows = {c: np.nonzero(f.labels == c)[0].mean() for c in (1, 4)}
        assert cols[3] < cols[1] and rows[4] > rows[1]
    elif view == "a2c":
        assert 4 in present and 3 not in present and 5 not in present
    elif view == "plax":
        assert 3 in present
    assert f.truth["view"] == view
    assert len(f.truth["probe_pose"]["axis"]) == 3


def test_randomization_in_range_and_images_sane() -> None:
    for seed in range(6):
        sim = EchoSimulator(seed=seed)
        for key, (lo, hi) in ECHO_RANGES.items():
            assert lo <= sim.settings[key] <= hi or key == "depth_mm"
        assert 0.25 <= sim.ef <= 0.75 and 50.0 <= sim.hr_bpm <= 110.0
        f = sim.render(seed * 7)
        inside = SectorGeometry.fit(
            sim.settings["depth_mm"],
            sim.settings["sector_deg"],
            (128, 128),
            n_samples=10,
            n_beams=10,
        ).inside()
        assert f.image[~inside].max() == 0
        assert 10.0 < f.image[inside].mean() < 120.0
        lv, myo = f.image[f.labels == 1], f.image[f.labels == 2]
        assert lv.mean() < myo.mean()
        assert f.truth["spacing_mm"][0] == pytest.approx(sim.spacing_mm[0])
    off = EchoSimulator(seed=3, randomize=False)
    assert off.settings == {k: 0.5 * (lo + hi) for k, (lo, hi) in ECHO_RANGES.items()}


def test_ed_es_flags_mark_volume_extremes() -> None:
    sim = EchoSimulator(seed=11, ef=0.6, hr_bpm=90, fps=30.0)
    frames = _clip(sim, 45)
    vol = np.array([f.truth["lv_volume_ml"] for f in frames])
    for f in frames:
        if f.truth["ed"]:
            assert vol[f.index] == pytest.approx(vol.max(), rel=0.02)
        if f.truth["es"]:
            assert vol[f.index] == pytest.approx(vol.min(), rel=0.05)
    assert sum(f.truth["ed"] for f in frames) >= 1 and sum(f.truth["es"] for f in frames) >= 1


def test_other_sizes_and_bad_arguments() -> None:
    f = EchoSimulator(seed=2, size=(112, 160)).render(5)
    assert f.image.shape == (112, 160) and f.labels.shape == (112, 160)
    with pytest.raises(ValueError, match="ef"):
        EchoSimulator(ef=55.0)
    with pytest.raises(ValueError, match="heart rate"):
        EchoSimulator(hr_bpm=5.0)
    with pytest.raises(ValueError, match="view"):
        EchoSimulator(view="psax")
    with pytest.raises(ValueError, match="settings"):
        EchoSimulator(settings={"gain": 1.0})
    with pytest.raises(ValueError, match="index"):
        EchoSimulator().render(-1)


def test_septal_dropout_darkens_the_septum_only() -> None:
    seed = 3_000_001  # an A4C clip whose RV lies along the septum
    plain, faint = (
        EchoSimulator(seed, size=(192, 192), septal_dropout=d).render(0) for d in (0.0, 1.0)
    )
    np.testing.assert_array_equal(plain.labels, faint.labels)
    lab = plain.labels
    kernel = np.ones((17, 17), np.uint8)
    near = {c: cv2.dilate((lab == c).astype(np.uint8), kernel) > 0 for c in (1, 3)}
    septum = (lab == 2) & near[1] & near[3]
    far = cv2.dilate((lab == 3).astype(np.uint8), np.ones((61, 61), np.uint8)) == 0
    lateral = (lab == 2) & far  # LV wall far from the RV
    assert septum.sum() > 100 and lateral.sum() > 100
    img0, img1 = plain.image.astype(np.float64), faint.image.astype(np.float64)
    assert img1[septum].mean() < 0.6 * img0[septum].mean()
    assert img1[lateral].mean() == pytest.approx(img0[lateral].mean(), rel=0.03)
    with pytest.raises(ValueError, match="septal_dropout"):
        EchoSimulator(septal_dropout=1.5)


@pytest.mark.parametrize("dropout", [0.0, 0.8])
def test_a_re_aimed_simulator_renders_what_a_new_one_at_that_pose_renders(dropout: float) -> None:
    first = EchoSimulator(4, view="a2c", size=(64, 64), septal_dropout=dropout)
    other = EchoSimulator(4, view="a4c", size=(64, 64), septal_dropout=dropout).pose
    fresh = EchoSimulator(4, view="a2c", size=(64, 64), septal_dropout=dropout, pose=other)
    aimed = first.aimed(other)
    for i in (0, 7):
        a, b = aimed.render(i), fresh.render(i)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
        assert a.truth == b.truth
    assert aimed.describe() == fresh.describe()
    assert not np.array_equal(first.render(0).labels, aimed.render(0).labels)  # it moved


def test_doc_panel_renders() -> None:
    from orstream.sim import echo_panel

    panel = echo_panel()
    assert panel.dtype == np.uint8 and panel.ndim == 3 and panel.shape[2] == 3
    assert panel.shape[1] == 4 * 256 and panel.shape[0] > 3 * 256
