"""Anatomical plausibility of a segmentation: is this LV one closed cavity, is this needle a line?

Pure functions of masks at the frame's size; each returns a :class:`Plausibility` verdict
(which checks ran, which failed) from shape figures (:func:`lv_shape_figures`,
:func:`needle_shape_figures` in ``_plausibility_needle``) compared with named thresholds.

LV checks (:func:`lv_plausibility`, on a class-index mask with the model's class names):

- ``one_lv``: the LV cavity is one blob: its largest 8-connected component holds at least
  :data:`LV_MAIN_SHARE` of the LV pixels and no other component is larger than
  :data:`LV_SECOND_SHARE` of them; an LV under :data:`LV_MIN_AREA` of the frame (or none)
  fails: an apical view shows one LV;
- ``solid``: that component's solidity (area / convex hull area) is at least
  :data:`LV_SOLIDITY`;
- ``mitral_plane`` (needs an ``la`` class and LA pixels in the frame): the mitral plane is
  the plane through the centroid of the LV-LA contact (else the LV's basal end), normal to
  the LV's principal axis, which points from the apex to the LA; at most
  :data:`LV_CROSSING_SHARE` of the LV lies more than :data:`MITRAL_TOL` x its length beyond
  it into the atrium, and at most :data:`LA_CROSSING_SHARE` of the LA lies that far on the
  LV's side (LV and LA interleaved);
- ``septum`` (needs an ``lv_myocardium`` class): of the LV border outside the basal
  :data:`BASE_BAND` of the long axis and away from the LA, at least :data:`LV_WALLED_SHARE`
  has myocardium within :data:`WALL_PX` pixels (an LV that opens into the RV does not).

Thresholds come from the expert masks of CAMUS **train** (1,600 images; CAMUS val stays for
the figures in docs/models/echo-lv-camus.md): each is set just outside the range of the expert
masks (``python scripts/plausibility.py thresholds``), so no expert mask fails; what fails is
a shape no expert drew. The LV's axis without an LA in the frame comes from
:func:`~orstream.kernels.lv_landmarks` (its apex/base choice picked the wrong end on 88 of
those 1,600 expert masks until it learnt that an upright LV's apex is at the top; with an LA
the atrium decides).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from ._cardiac import lv_landmarks

BoolMask = npt.NDArray[np.bool_]

LV_CHECKS: Final = ("one_lv", "solid", "mitral_plane", "septum")
LV_MAIN_SHARE: Final = 0.97
"""Least share of the LV pixels in the largest component (CAMUS train experts: always 1.0,
one blob; 3 % is the allowance for a model's stray pixels)."""
LV_MIN_AREA: Final = 0.005
"""Least LV area as a share of the frame (experts: min 0.013 of the 224 x 224 frame)."""
LV_SECOND_SHARE: Final = 0.01
"""Largest share of the LV pixels any other component may hold (experts: always 0)."""
LV_SOLIDITY: Final = 0.77
"""Least solidity of the LV (experts: min 0.777, 0.1 % quantile 0.808, median 0.956)."""
MITRAL_TOL: Final = 0.06
"""Tolerance beyond the mitral plane, as a share of the long axis (a geometric choice)."""
LV_CROSSING_SHARE: Final = 0.025
"""Largest share of the LV more than the tolerance beyond the mitral plane (experts: max
0.021, 99.9 % quantile 0.011)."""
LA_CROSSING_SHARE: Final = 0.02
"""Largest share of the LA more than the tolerance on the LV's side (experts: max 0.016)."""
BASE_BAND: Final = 0.12
"""Basal share of the long axis whose LV border need not touch myocardium (a choice)."""
WALL_PX: Final = 2
"""Myocardium within this many pixels of an LV border pixel walls it."""
LV_WALLED_SHARE: Final = 0.90
"""Least share of the non-basal LV border walled by myocardium. Experts always wall all of
it (1.0); 10 % is the allowance for a gap of faint myocardium, a choice, not a measurement."""
CHECK_SIDE_PX: Final = 128
"""The LV checks run on the class mask shrunk (nearest) to at most this larger side: the
models' masks come from 112 x 112 logits, so nothing is lost, and the cost (2.6 ms on a loaded
2-core VM) does not grow with the frame. :data:`WALL_PX` is in these pixels."""
_CONTACT_MIN_PX: Final = 3


@dataclass(frozen=True)
class Plausibility:
    """The verdict of the plausibility checks on one output: ``ok`` when no check that ran
    failed; ``failed`` the failed checks' names; ``checked`` the checks that ran (a check that
    needs a class the model lacks, or an object that is absent, does not run)."""

    ok: bool
    failed: tuple[str, ...]
    checked: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "plausible": self.ok,
            "implausible": list(self.failed),
            "checks": list(self.checked),
        }


def verdict(results: dict[str, bool]) -> Plausibility:
    """The :class:`Plausibility` of ``results`` (check name -> passed), in their order."""
    failed = tuple(name for name, passed in results.items() if not passed)
    return Plausibility(not failed, failed, tuple(results))


def _as_2d(mask: npt.ArrayLike, what: str) -> npt.NDArray[Any]:
    m = np.asarray(mask)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"a {what} mask is a non-empty (H, W) array; got shape {m.shape}")
    return m


def _classes_at_check_size(mask: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """A class-index (H, W) mask as uint8, shrunk (nearest) so its larger side is at most
    :data:`CHECK_SIDE_PX`."""
    m = _as_2d(mask, "class-index")
    if m.dtype != np.uint8:
        if m.dtype.kind not in "biu" or m.min() < 0 or m.max() > 255:
            raise ValueError(f"class indices are integers 0..255; got {m.dtype}")
        m = m.astype(np.uint8)
    scale = CHECK_SIDE_PX / max(m.shape)
    if scale >= 1.0:
        return np.ascontiguousarray(m)
    size = (max(1, round(m.shape[1] * scale)), max(1, round(m.shape[0] * scale)))
    small = cv2.resize(np.ascontiguousarray(m), size, interpolation=cv2.INTER_NEAREST)
    return np.asarray(small, np.uint8)


def components(mask: BoolMask) -> tuple[BoolMask, int, int]:
    """(largest 8-connected component of a bool (H, W) mask, its pixels, the second-largest
    component's pixels); an empty mask gives an all-False mask and 0, 0."""
    m = np.ascontiguousarray(mask).view(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, np.bool_), 0, 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1]
    second = int(areas[order[1]]) if n > 2 else 0
    return lab == 1 + int(order[0]), int(areas[order[0]]), second


def solidity(mask: BoolMask) -> float:
    """Area / convex-hull area of a bool (H, W) mask's pixels (hull grown by half a pixel)."""
    outline, _ = cv2.findContours(
        np.ascontiguousarray(mask).view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    if not outline:
        return 0.0
    hull = cv2.convexHull(np.concatenate(outline))
    hull_area = float(cv2.contourArea(hull)) + 0.5 * float(cv2.arcLength(hull, True)) + 1.0
    return min(1.0, float(mask.sum()) / hull_area)


def _dilate(mask: BoolMask, px: int) -> BoolMask:
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    out: BoolMask = cv2.dilate(np.ascontiguousarray(mask).view(np.uint8), kernel) != 0
    return out


def _xy(mask: BoolMask) -> npt.NDArray[np.float64]:
    rows, cols = np.nonzero(mask)
    return np.stack([cols, rows], axis=1).astype(np.float64)


def lv_shape_figures(classes_mask: npt.ArrayLike, labels: Sequence[str]) -> dict[str, float]:
    """The figures the LV checks compare with their thresholds, for a class-index (H, W)
    mask whose class names are ``labels`` (needs ``lv_cavity``; ``la`` and ``lv_myocardium``
    where the model has them). Keys: ``lv_px``, ``lv_area`` (share of the frame),
    ``main_share``, ``second_share``, ``solidity``; with an LA in the frame ``lv_crossing``
    and ``la_crossing``; with a myocardium class ``walled``. Figures that cannot be computed
    are left out."""
    m = _classes_at_check_size(classes_mask)
    names = list(labels)
    if "lv_cavity" not in names:
        raise ValueError(f"no lv_cavity class among {names}")
    lv_all = m == names.index("lv_cavity")
    lv, main, second = components(lv_all)
    total = int(lv_all.sum())
    out: dict[str, float] = {"lv_px": float(total), "lv_area": total / m.size}
    if total == 0:
        return out
    out |= {"main_share": main / total, "second_share": second / total}
    out["solidity"] = solidity(lv)
    la = m == names.index("la") if "la" in names else None
    has_la = la is not None and bool(la.any())
    lv_xy = _xy(lv)
    centre = lv_xy.mean(axis=0)
    d = lv_xy - centre
    axis = np.linalg.eigh(d.T @ d)[1][:, 1]  # principal axis, unit
    if la is not None and has_la:  # the base is the end toward the atrium
        if (_xy(la).mean(axis=0) - centre) @ axis < 0:
            axis = -axis
    else:
        lm = lv_landmarks(lv, 1.0)
        if lm is not None and (np.array(lm.mid_px) - np.array(lm.apex_px)) @ axis < 0:
            axis = -axis
    along = d @ axis  # px from the centroid toward the base
    top = float(along.max())
    length = top - float(along.min()) + 1.0
    if la is not None and has_la:
        contact = lv & _dilate(la, 1)
        c_xy = _xy(contact)
        plane = c_xy.mean(axis=0) @ axis if len(c_xy) >= _CONTACT_MIN_PX else top + centre @ axis
        tol = MITRAL_TOL * length
        out["lv_crossing"] = float(np.mean(lv_xy @ axis > plane + tol))
        out["la_crossing"] = float(np.mean(_xy(la) @ axis < plane - tol))
    if "lv_myocardium" in names:
        myo = m == names.index("lv_myocardium")
        border = lv & ~(cv2.erode(lv.view(np.uint8), np.ones((3, 3), np.uint8)) != 0)
        h, w = lv.shape
        border[[0, h - 1], :] |= lv[[0, h - 1], :]
        border[:, [0, w - 1]] |= lv[:, [0, w - 1]]
        b_xy = _xy(border)
        keep = (b_xy - centre) @ axis < top - BASE_BAND * length
        if la is not None and has_la:
            keep &= ~_dilate(la, WALL_PX)[border]
        if keep.any():
            out["walled"] = float(np.mean(_dilate(myo, WALL_PX)[border][keep]))
    return out


def lv_plausibility(classes_mask: npt.ArrayLike, labels: Sequence[str]) -> Plausibility:
    """The LV checks (module doc) on a class-index (H, W) mask whose class names are
    ``labels``; ``mitral_plane`` runs only with an ``la`` class and LA pixels in the frame,
    ``septum`` only with an ``lv_myocardium`` class. Integer masks of any layout; the
    checks run at :data:`CHECK_SIDE_PX`."""
    f = lv_shape_figures(classes_mask, labels)
    results: dict[str, bool] = {
        "one_lv": f["lv_area"] >= LV_MIN_AREA
        and f["main_share"] >= LV_MAIN_SHARE
        and f["second_share"] <= LV_SECOND_SHARE
    }
    if "main_share" not in f:
        return verdict(results)
    results["solid"] = f.get("solidity", 0.0) >= LV_SOLIDITY
    if "lv_crossing" in f:
        results["mitral_plane"] = (
            f["lv_crossing"] <= LV_CROSSING_SHARE and f["la_crossing"] <= LA_CROSSING_SHARE
        )
    if "lv_myocardium" in labels:
        results["septum"] = f.get("walled", math.nan) >= LV_WALLED_SHARE
    return verdict(results)
