"""Pre/post-processing kernels: numpy (OpenCV) path, the same results through torch on the CPU
(the array-API path a CuPy array takes), and property tests with hypothesis."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from orstream import kernels as K  # noqa: N812

RNG = np.random.default_rng(7)


def test_public_names_resolve() -> None:
    mine = {"normalize", "crop", "resize", "scan_convert", "SectorMap", "argmax_labels",
            "threshold", "largest_component", "contours", "subpixel_peak", "TipTracker",
            "measure_clip", "lv_volume_discs_ml", "detect_ed_es"}  # fmt: skip
    assert mine <= set(K.__all__)
    assert all(hasattr(K, name) for name in K.__all__)


# -- normalize, crop, resize ---------------------------------------------------------------------
def test_normalize_scalar_and_per_channel() -> None:
    # known answers worked out by hand: u8 v -> (v / 255 - mean) / std
    x = np.array([0, 51, 102, 255], np.uint8).reshape(1, 1, 1, 4)  # 0, 0.2, 0.4, 1.0
    y = K.normalize(x, 0.5, 0.25)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y.ravel(), [-2.0, -1.2, -0.4, 2.0], rtol=0, atol=1e-6)
    # per channel (axis -3): the same pixels under three (mean, std) pairs
    rgb = np.broadcast_to(x, (1, 3, 1, 4)).copy()
    mean, std = [0.1, 0.2, 0.4], [0.5, 0.25, 0.2]
    y = K.normalize(rgb, mean, std)
    np.testing.assert_allclose(
        y[0, :, 0],
        [[-0.2, 0.2, 0.6, 1.8], [-0.8, 0.0, 0.8, 3.2], [-2.0, -1.0, 0.0, 3.0]],
        rtol=0,
        atol=1e-6,
    )
    # any image: undoing the normalisation gives back the pixels in [0, 1] (a round trip)
    x = RNG.integers(0, 256, (2, 3, 8, 9), dtype=np.uint8)
    y = K.normalize(x, mean, std)
    assert y.dtype == np.float32 and y.shape == x.shape
    back = y * np.array(std)[:, None, None] + np.array(mean)[:, None, None]
    np.testing.assert_allclose(np.rint(back * 255.0), x, rtol=0, atol=0)
    yt = K.normalize(torch.from_numpy(x), mean, std)
    assert isinstance(yt, torch.Tensor) and yt.dtype == torch.float32
    np.testing.assert_allclose(yt.numpy(), y, rtol=1e-6)
    with pytest.raises(ValueError, match="std"):
        K.normalize(x, 0.0, 0.0)
    with pytest.raises(ValueError, match="1 or 3"):
        K.normalize(x, [0.1, 0.2], 1.0)


def test_crop_is_a_view_and_clips() -> None:
    x = RNG.integers(0, 256, (3, 40, 50), dtype=np.uint8)
    c = K.crop(x, (10, 5, 20, 15))
    assert c.shape == (3, 15, 20) and np.shares_memory(c, x)
    np.testing.assert_array_equal(c, x[:, 5:20, 10:30])
    assert K.crop(x, (-5, 30, 20, 20)).shape == (3, 10, 15)
    with pytest.raises(ValueError, match="outside"):
        K.crop(x, (60, 0, 10, 10))
    assert K.crop(torch.from_numpy(x), (10, 5, 20, 15)).shape == (3, 15, 20)


def test_resize_shapes_dtypes_and_backends() -> None:
    x = RNG.integers(0, 256, (2, 3, 60, 80), dtype=np.uint8)
    y = K.resize(x, (45, 70))
    assert y.shape == (2, 3, 45, 70) and y.dtype == np.uint8
    yt = K.resize(torch.from_numpy(x), (45, 70))
    np.testing.assert_array_equal(yt.numpy(), y)
    # integer "area" shrink is a block mean on every backend
    a = K.resize(x.astype(np.float32), (30, 40), "area")
    np.testing.assert_allclose(a, x.reshape(2, 3, 30, 2, 40, 2).mean(axis=(3, 5)), rtol=1e-6)
    at = K.resize(torch.from_numpy(x.astype(np.float32)), (30, 40), "area")
    np.testing.assert_allclose(at.numpy(), a, rtol=1e-6)
    # non-integer area goes to OpenCV
    assert K.resize(x, (25, 33), "area").shape == (2, 3, 25, 33)
    assert K.resize(x, (60, 80)) is x


def test_resize_labels_and_masks_nearest() -> None:
    labels = RNG.integers(0, 4, (32, 32), dtype=np.uint8)
    up = K.resize(labels, (96, 96), "nearest")
    assert set(np.unique(up)) <= set(np.unique(labels))
    np.testing.assert_array_equal(up[::3, ::3], labels)
    mask = labels > 1
    m = K.resize(mask, (64, 64), "nearest")
    assert m.dtype == np.bool_ and m.shape == (64, 64)
    with pytest.raises(ValueError, match="nearest"):
        K.resize(mask, (64, 64), "linear")
    with pytest.raises(ValueError, match="positive"):
        K.resize(labels, (0, 5))


@pytest.mark.parametrize("src", [(128, 128), (100, 37), (534, 512), (7, 300)])
@pytest.mark.parametrize("dst", [(50, 50), (256, 256), (300, 211), (13, 500), (1, 1)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_resize_in_the_array_api_matches_opencv(
    src: tuple[int, int], dst: tuple[int, int], dtype: type
) -> None:
    """The resize that GPU arrays take, run here on numpy and CPU torch."""
    top = 60000 if dtype == np.uint16 else 255
    x = (RNG.random((2, *src)) * top).astype(dtype)
    shrinks = dst[0] <= src[0] and dst[1] <= src[1]
    for interpolation, code, tolerance in (
        ("nearest", cv2.INTER_NEAREST, 0.0),
        ("linear", cv2.INTER_LINEAR, 1.0 if dtype != np.float32 else 1e-4),
        ("area", cv2.INTER_AREA, 1.0 if dtype != np.float32 else 1e-3),
    ):
        if interpolation == "area" and not shrinks:
            with pytest.raises(ValueError, match="only shrinks"):
                K.resize_array_api(x, dst, "area")
            continue
        want = np.stack([cv2.resize(im, dst[::-1], interpolation=code) for im in x])
        got = K.resize_array_api(x, dst, interpolation)  # type: ignore[arg-type]
        assert got.dtype == x.dtype and got.shape == want.shape
        assert np.abs(got.astype(np.float64) - want).max() <= tolerance, interpolation
        if dtype != np.uint16:  # torch has no uint16 arithmetic
            t = K.resize_array_api(torch.from_numpy(x), dst, interpolation)  # type: ignore[arg-type]
            np.testing.assert_allclose(t.numpy().astype(np.float64), got, atol=tolerance)


# -- class maps ----------------------------------------------------------------------------------
def test_softmax_argmax_confidence_threshold() -> None:
    logits = RNG.normal(size=(2, 5, 16, 16)).astype(np.float32)
    p = K.softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    lab = K.argmax_labels(logits)
    assert lab.dtype == np.uint8 and lab.shape == (2, 16, 16)
    np.testing.assert_array_equal(lab, logits.argmax(axis=1))
    conf = K.max_probability(p)
    np.testing.assert_allclose(conf, p.max(axis=1))
    lab_t = K.argmax_labels(torch.from_numpy(logits))
    assert lab_t.dtype == torch.uint8
    np.testing.assert_array_equal(lab_t.numpy(), lab)
    # Same probabilities from torch arrays: within 1e-4 absolute. Two full CI runs (of many)
    # saw torch differ from numpy by up to 3.2e-5 absolute (1.8e-4 relative) on a few of the
    # 2,560 values, which no isolated run reproduces; the cause is not found. A wrong axis or
    # a missing max-shift would be off by 0.1 or more.
    np.testing.assert_allclose(K.softmax(torch.from_numpy(logits)).numpy(), p, rtol=0, atol=1e-4)
    t = K.threshold(p[:, 0], 0.5)
    assert t.dtype == np.bool_ and np.array_equal(t, p[:, 0] > 0.5)


def test_largest_component_and_contours() -> None:
    m = np.zeros((40, 40), np.uint8)
    m[2:6, 2:6] = 1  # 16 px
    m[10:30, 12:20] = 3  # 160 px
    m[35, 35] = 1
    big = K.largest_component(m)
    assert big.dtype == np.bool_ and big.sum() == 160 and big[15, 15]
    assert K.largest_component(torch.from_numpy(m)).sum().item() == 160
    assert not K.largest_component(np.zeros((8, 8), bool)).any()
    diag = np.eye(6, dtype=bool)
    assert K.largest_component(diag, 8).sum() == 6
    assert K.largest_component(diag, 4).sum() == 1
    cs = K.contours(m)
    assert len(cs) == 3 and cs[0].dtype == np.int32 and cs[0].shape[1] == 2
    x, y = cs[0][:, 0], cs[0][:, 1]
    assert (x.min(), x.max(), y.min(), y.max()) == (12, 19, 10, 29)
    assert K.contours(np.zeros((5, 5), bool)) == []
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        K.largest_component(np.zeros((2, 5, 5)))


# -- sub-pixel peak ------------------------------------------------------------------------------
def _gauss(h: int, w: int, cx: float, cy: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(
    cx=st.floats(3.0, 60.0),
    cy=st.floats(3.0, 44.0),
    sigma=st.floats(0.8, 6.0),
    amp=st.floats(0.1, 100.0),
)
def test_subpixel_peak_recovers_gaussian_centre(
    cx: float, cy: float, sigma: float, amp: float
) -> None:
    hm = amp * _gauss(48, 64, cx, cy, sigma)
    x, y, v = K.subpixel_peak(hm)
    assert abs(x - cx) < 0.1 and abs(y - cy) < 0.1
    assert v == pytest.approx(float(hm.max()))


@settings(max_examples=30, deadline=None)
@given(cx=st.floats(4.0, 58.0), cy=st.floats(4.0, 42.0), sigma=st.floats(1.0, 2.5))
def test_subpixel_peak_centroid_and_torch(cx: float, cy: float, sigma: float) -> None:
    hm = _gauss(48, 64, cx, cy, sigma)
    x, y, _ = K.subpixel_peak(hm, "centroid")
    assert abs(x - cx) < 0.25 and abs(y - cy) < 0.25
    assert K.subpixel_peak(torch.from_numpy(hm)) == K.subpixel_peak(hm)


def test_subpixel_peak_border_and_flat() -> None:
    hm = np.zeros((10, 10), np.float32)
    hm[0, 4] = 1.0
    assert K.subpixel_peak(hm) == (4.0, 0.0, 1.0)
    x, y, v = K.subpixel_peak(np.ones((5, 5)))
    assert (x, y, v) == (0.0, 0.0, 1.0)


# -- scan conversion -----------------------------------------------------------------------------
def test_sector_map_geometry() -> None:
    smap = K.SectorMap.fit(200, 96, 150.0, 80.0, (160, 200))
    h, w = smap.shape
    assert smap.map_x.shape == (h, w) and smap.inside.any()
    # apex at the top centre; the deepest point of the centre beam is the full depth
    assert smap.apex_px == ((w - 1) / 2, 0.0)
    assert (h - 1) * smap.spacing_mm >= 150.0 - 1e-6
    centre = round(smap.apex_px[0])
    col = np.flatnonzero(smap.inside[:, centre])
    assert col.max() * smap.spacing_mm == pytest.approx(150.0, abs=smap.spacing_mm)
    # sector edges at +/- 40 degrees
    ys, xs = np.nonzero(smap.inside)
    ang = np.degrees(np.arctan2((xs - smap.apex_px[0]), ys + 1e-9))
    assert ang.min() == pytest.approx(-40.0, abs=1.5) and ang.max() == pytest.approx(40.0, abs=1.5)
    with pytest.raises(ValueError):
        K.SectorMap.fit(200, 96, 150.0, 200.0, (160, 200))


def test_the_simulators_sector_and_the_scan_converter_share_one_geometry() -> None:
    from orstream.sim import SectorGeometry

    geom = SectorGeometry.fit(140.0, 75.0, (128, 160), n_samples=256, n_beams=96)
    mx, my, inside = K.sector_lookup(
        geom.shape, geom.spacing_mm, geom.apex_px, n_samples=256, n_beams=96, depth_mm=140.0,
        angle_deg=75.0,
    )  # fmt: skip
    sim_x, sim_y = geom.maps()
    assert np.array_equal(geom.inside(), inside) and inside.any()
    assert np.array_equal(sim_x[inside], mx[inside]) and np.array_equal(sim_y[inside], my[inside])
    assert (sim_x[~inside] == -10.0).all() and (mx[~inside] == -1.0).all()


def test_scan_convert_backends_agree() -> None:
    smap = K.SectorMap.fit(120, 64, 140.0, 75.0, (128, 128))
    polar = RNG.random((120, 64)).astype(np.float32)
    a = K.scan_convert(polar, smap)
    b = K.scan_convert(polar[None], smap)[0]  # not 2D: the array-API gather, not cv2.remap
    np.testing.assert_allclose(a, b, atol=2e-3)
    c = K.scan_convert(torch.from_numpy(polar), smap)
    assert isinstance(c, torch.Tensor)
    np.testing.assert_allclose(c.numpy(), b, atol=1e-6)
    assert (a[~smap.inside] == 0).all()
    u8 = (polar * 255).astype(np.uint8)
    d = K.scan_convert(u8, smap, fill=7)
    assert d.dtype == np.uint8 and (d[~smap.inside] == 7).all()
    e = K.scan_convert(torch.from_numpy(np.stack([u8, u8])), smap, fill=7)
    assert tuple(e.shape) == (2, 128, 128)
    assert np.abs(e.numpy()[0].astype(int) - d.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="n_samples"):
        K.scan_convert(polar.T, smap)


def test_scan_convert_puts_a_beam_at_its_angle() -> None:
    smap = K.SectorMap.fit(100, 61, 100.0, 60.0, (101, 120))
    polar = np.zeros((100, 61), np.float32)
    polar[:, 45] = 1.0  # beam 45 of 61: -30 + 45 * 1 = +15 degrees
    img = K.scan_convert(polar, smap)
    ys, xs = np.nonzero(img > 0.5)
    ang = np.degrees(np.arctan2(xs - smap.apex_px[0], ys - smap.apex_px[1] + 1e-9))
    far = np.hypot(xs - smap.apex_px[0], ys) > 20
    assert math.isclose(float(np.median(ang[far])), 15.0, abs_tol=0.7)
