"""Fluoroscopy simulator: frame format, tip truth on the rendered catheter end, determinism,
Poisson noise versus dose, the real centerlines, and running without the real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from orstream.sim import (
    FluoroPhysics,
    FluoroSimulator,
    SimFrame,
    data_path,
    load_real_centerlines,
)

DATASET = data_path("catheter-centerlines", "dataset1")
needs_data = pytest.mark.skipif(DATASET is None, reason="real data (ORSTREAM_DATA) not present")


def _bilinear(img: npt.NDArray[np.float64], p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    x0, y0 = np.floor(p[:, 0]).astype(int), np.floor(p[:, 1]).astype(int)
    ax, ay = p[:, 0] - x0, p[:, 1] - y0
    h, w = img.shape

    def g(y: npt.NDArray[np.int64], x: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return img[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)]

    out: npt.NDArray[np.float64] = (
        g(y0, x0) * (1 - ax) * (1 - ay)
        + g(y0, x0 + 1) * ax * (1 - ay)
        + g(y0 + 1, x0) * (1 - ax) * ay
        + g(y0 + 1, x0 + 1) * ax * ay
    )
    return out


@pytest.fixture(scope="module")
def sim() -> FluoroSimulator:
    return FluoroSimulator(seed=7)


def test_frame_format_and_json_truth(sim: FluoroSimulator) -> None:
    f = sim.render(20)
    assert f.image.dtype == np.uint16 and f.image.shape == (1024, 1024)
    assert f.image.flags.c_contiguous
    assert f.labels.dtype == np.uint8 and f.labels.shape == (1024, 1024)
    assert set(np.unique(f.labels)) <= {0, 1, 2}
    assert f.t_s == pytest.approx(20 / 15)
    json.dumps(f.truth)
    desc = sim.describe()
    json.dumps(desc)
    assert desc["seed"] == 7 and desc["modality"] == "fluoro"
    graph = desc["vessel_graph"]
    assert len(graph["edges"]) == len(graph["nodes_px"]) - 1
    tip = np.array(f.truth["tip_px"])
    assert np.allclose(f.truth["tip_mm"], tip * sim.spacing_mm[0])
    assert np.allclose(f.truth["catheter_px"][0], tip, atol=0.01)
    assert sim.geometry["kind"] == "projection" and sim.modality == "fluoro"


def test_catheter_label_hugs_the_truth_centerline(sim: FluoroSimulator) -> None:
    for i in (0, 45, 90):
        f = sim.render(i)
        line = np.full(f.labels.shape, 255, np.uint8)
        cv2.polylines(
            line, [np.round(np.array(f.truth["catheter_px"])).astype(np.int32)], False, 0, 1
        )
        dist = cv2.distanceTransform(line, cv2.DIST_L2, 5)
        mag = sim.geometry["sid_mm"] / sim.geometry["sod_mm"]  # magnification at the patient
        radius_px = sim.catheter_radius_mm * mag / sim.spacing_mm[0]
        on = f.labels == 1
        assert on.sum() > 100
        assert dist[on].max() <= radius_px + 1.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"use_real_centerlines": False},
        {"anatomy": "arch", "size": (512, 512)},
        {"anatomy": "coronary", "size": (768, 768)},
    ],
)
def test_tip_truth_lies_on_the_rendered_catheter_end(kwargs: dict[str, object]) -> None:
    """Image with catheter over image without it: the catheter's own line integral, in which
    the tip marker's far end (half-maximum along the axis) must be the truth tip within 1 px."""
    opts = {"noise": "none", "response": "linear", "dose": 1e4, **kwargs}
    no_scatter = FluoroPhysics(scatter_to_primary=0.0)  # keeps the log difference exact
    hidden = FluoroPhysics(scatter_to_primary=0.0, catheter_mu=0.0, marker_mu=0.0)
    with_cath = FluoroSimulator(3, physics=no_scatter, **opts)  # type: ignore[arg-type]
    without = FluoroSimulator(3, physics=hidden, **opts)  # type: ignore[arg-type]
    for i in (0, 31, 77, 140, 199):
        f, g = with_cath.render(i), without.render(i)
        assert isinstance(f, SimFrame) and isinstance(g, SimFrame)
        att = np.log(np.maximum(g.image, 1.0) / np.maximum(f.image, 1.0))
        pts = np.array(f.truth["catheter_px"])
        tip = pts[0]
        d = tip - pts[min(2, len(pts) - 1)]
        d /= np.linalg.norm(d)
        n = np.array([-d[1], d[0]])
        s = np.arange(-12.0, 6.0, 0.05)
        along = _bilinear(att, tip + s[:, None] * d)
        plateau = np.median(along[(s > -8) & (s < -3)])
        end = s[np.flatnonzero(along >= plateau / 2).max()]
        assert abs(end) <= 1.0, f"frame {i}: rendered end {end:+.2f} px from the tip truth"
        c = np.arange(-8.0, 8.01, 0.1)
        across = np.clip(_bilinear(att, tip - 2 * d + c[:, None] * n) - 0.1 * plateau, 0, None)
        offset = float((across * c).sum() / across.sum())
        assert abs(offset) <= 1.0, f"frame {i}: tip {offset:+.2f} px off the catheter axis"
        y, x = np.round(tip).astype(int)[::-1]
        assert (f.labels[y - 1 : y + 2, x - 1 : x + 2] == 1).any()


def test_same_seed_same_frames_bit_for_bit() -> None:
    a, b = FluoroSimulator(5, size=(512, 512)), FluoroSimulator(5, size=(512, 512))
    order_a, order_b = [0, 61, 7, 200], [200, 7, 0, 61]
    fa = {i: a.render(i) for i in order_a}
    fb = {i: b.render(i) for i in order_b}
    for i in order_a:
        assert np.array_equal(fa[i].image, fb[i].image)
        assert np.array_equal(fa[i].labels, fb[i].labels)
        assert fa[i].truth == fb[i].truth
    assert np.array_equal(a.render(61).image, fa[61].image)  # again, after other frames
    assert not np.array_equal(FluoroSimulator(6, size=(512, 512)).render(61).image, fa[61].image)


@pytest.mark.parametrize("noise", ["poisson", "fast"])
def test_dose_changes_noise_as_poisson_predicts(noise: str) -> None:
    """Linear response: counts = image / gain; the noise variance equals the mean count."""
    rel = []
    for dose in (50.0, 200.0):
        opts = {"size": (256, 256), "dose": dose, "response": "linear", "collimation": "none"}
        clean = FluoroSimulator(2, noise="none", **opts).render(9).image  # type: ignore[arg-type]
        noisy = FluoroSimulator(2, noise=noise, **opts).render(9).image  # type: ignore[arg-type]
        gain = 65535.0 / (dose * np.exp(FluoroPhysics().log_window[1]))
        mean = clean[64:192, 64:192].astype(np.float64) / gain
        resid = (noisy[64:192, 64:192].astype(np.float64) - clean[64:192, 64:192]) / gain
        assert resid.var() / mean.mean() == pytest.approx(1.0, rel=0.12)
        assert abs(resid.mean()) < 0.1 * np.sqrt(mean.mean())
        rel.append(resid.std() / mean.mean())
    assert rel[0] / rel[1] == pytest.approx(2.0, rel=0.12)  # 4x the dose, half the noise


def test_contrast_phases_darken_the_vessels() -> None:
    opts: dict[str, Any] = {"size": (512, 512), "noise": "none", "randomize": False}
    s = FluoroSimulator(4, **opts)
    c = s.describe()["contrast"]
    before = s.render(round((c["first_injection_s"] - 0.5) * s.fps))
    peak = s.render(round((c["first_injection_s"] + c["injection_s"] - 0.2) * s.fps))
    assert before.truth["contrast_phase"] == "none" and before.truth["contrast_level"] == 0
    assert peak.truth["contrast_phase"] == "peak" and peak.truth["contrast_level"] > 0.8
    opac = FluoroSimulator(4, vessel_label="opacified", **opts)
    assert not (opac.render(before.index).labels == 2).any()
    filled = opac.render(peak.index).labels == 2
    assert filled.sum() > 500 and (peak.labels[filled] == 2).all()
    no_mu = FluoroPhysics(mu_iodine_per_mm=dict.fromkeys(FluoroPhysics().mu_iodine_per_mm, 0.0))
    no_iodine = FluoroSimulator(4, physics=no_mu, **opts).render(peak.index)
    drop = no_iodine.image.astype(np.float64) - peak.image
    assert drop.min() >= 0 and np.median(drop[filled]) > 1500  # iodine darkens the lumen
    assert np.median(drop[peak.labels == 0]) < 0.05 * np.median(drop[filled])  # scatter only


@needs_data
def test_real_centerlines_parse_all_74_with_tip_first() -> None:
    assert DATASET is not None
    shapes = load_real_centerlines(DATASET / "fluoro" / "centerlines")
    assert len(shapes) == 74
    tips = np.array([s[0] for s in shapes])
    ends = np.array([s[-1] for s in shapes])
    for s in shapes:
        assert s.ndim == 2 and s.shape[1] == 2 and len(s) >= 50
        step = np.linalg.norm(np.diff(s, axis=0), axis=1)
        assert np.median(step) == pytest.approx(3.0 / 0.2536, rel=0.05)  # 3 mm apart
    # the proximal end is where the catheter enters the view (bottom, steady); the tip moves
    assert ends[:, 1].min() > 850 and np.ptp(ends, axis=0).max() < 30
    assert np.ptp(tips, axis=0).max() > 200 and tips[:, 1].max() < 700


@needs_data
def test_real_data_drives_the_hepatic_catheter(sim: FluoroSimulator) -> None:
    assert sim.use_real_centerlines and sim.describe()["real_data"]
    assert len(sim.describe()["vessel_graph"]["nodes_px"]) == 728


def test_runs_without_the_real_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORSTREAM_DATA", str(tmp_path))
    s = FluoroSimulator(1, size=(512, 512))
    assert not s.use_real_centerlines and s.describe()["real_data"] is None
    f = s.render(33)
    tip = np.array(f.truth["tip_px"])
    assert ((tip > 0) & (tip < 512)).all() and (f.labels == 1).any()
    with pytest.raises(ValueError, match="ORSTREAM_DATA"):
        FluoroSimulator(1, size=(512, 512), use_real_centerlines=True)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="anatomy"):
        FluoroSimulator(anatomy="brain")
    with pytest.raises(ValueError, match="fps"):
        FluoroSimulator(fps=0)
    with pytest.raises(ValueError, match="noise"):
        FluoroSimulator(noise="gaussian")
    with pytest.raises(ValueError, match="index"):
        FluoroSimulator(size=(128, 128)).render(-1)
    with pytest.raises(ValueError, match="catheter_mu"):
        FluoroPhysics(catheter_mu=-0.1)
    with pytest.raises(ValueError, match="coronary"):
        FluoroPhysics(mu_iodine_per_mm={"hepatic": 0.25, "arch": 0.06})
