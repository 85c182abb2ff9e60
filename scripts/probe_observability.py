"""How well can the probe's rotation about the LV axis be read from what ProbeNav observes?

For random probe poses near the apical four-chamber view (slide, depth, aim within +-2 mm, tilt
within +-3 deg, rotation within +-20 deg: the last stretch of an episode), a small MLP is fitted
to regress the rotation offset (deg) from

- ``masks``: the 34 chamber-mask features of one frame (``PROBE_OBS_LAYOUT``);
- ``masks, sweep``: the same features at 11 rotations from -15 to +15 deg around the pose
  (what a policy with memory could collect by sweeping);
- ``masks + aorta, valves``: one frame's features plus the area and centroid of the aortic root
  and of the valve leaflets, which the phantom draws but no echo model segments.

Training poses come from training phantoms, scores from held-out phantoms (a new patient).
Prints the mean absolute error (deg) and the shares within 3 and 5 deg, beside guessing 0.

``--target`` asks whether a four-chamber view defined by the anatomy would be easier to read
than ProbeNav-v0's (``textbook``: a fixed rotation in the heart frame, whatever the right
heart's and atria's angles): ``right-atrium`` or ``right-ventricle``, the plane through the LV
axis and that chamber's centre. The rotation offset is then measured from that view. Needs
torch (the dev extra):

    python scripts/probe_observability.py [--samples 2000] [--target textbook]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch

from orstream.sim import HELD_OUT_PHANTOM_SEED
from orstream.sim._heart import CLS_AORTA, CLS_VALVE
from orstream.sim._probe_view import ProbeView

SWEEP_DEG = np.arange(-15.0, 16.0, 3.0)
TARGETS: dict[str, Callable[[ProbeView], float]] = {
    "textbook": lambda view: 0.0,
    "right-atrium": lambda view: view.anatomy.ra_angle,
    "right-ventricle": lambda view: view.anatomy.rv_angle,
}
"""Rotation (deg, from the environment's target) of each candidate four-chamber view."""


def _extra(view: ProbeView, offset: np.ndarray) -> np.ndarray:
    """Area share and centroid (x, y) of the aortic root and of the valves in the sector."""
    sampler = view.sampler(view.pose(offset))
    cls = np.where(view.sector, sampler.evaluate(view.state, (0.0, 0.0, 0.0))[1], 0).ravel()
    out = []
    for c in (CLS_AORTA, CLS_VALVE):
        m = cls == c
        n = int(m.sum())
        out += [
            20.0 * n / view._n_sector,
            *((view._x[m].mean(), view._y[m].mean()) if n else (0, 0)),
        ]
    return np.array(out)


def _samples(n: int, held_out: bool, seed: int, target: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = HELD_OUT_PHANTOM_SEED if held_out else 0
    cols: dict[str, list[np.ndarray]] = {"masks": [], "sweep": [], "extra": [], "rot": []}
    for _ in range(n):
        view = ProbeView(base + int(rng.integers(0, 100_000)), 64)
        off = np.r_[rng.uniform(-2, 2, 3), rng.uniform(-3, 3), rng.uniform(-20, 20)]
        rot, off[4] = off[4], off[4] + TARGETS[target](view)
        sweep = []
        for d in SWEEP_DEG:
            o = off.copy()
            o[4] += d
            sweep.append(view.features(view.labels(view.pose(o))))
        cols["sweep"].append(np.concatenate(sweep))
        cols["masks"].append(sweep[len(SWEEP_DEG) // 2])
        cols["extra"].append(np.r_[sweep[len(SWEEP_DEG) // 2], _extra(view, off)])
        cols["rot"].append(np.array([rot]))
    return {k: np.array(v, np.float32) for k, v in cols.items()}


def _fit(x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(1500):
        opt.zero_grad()
        loss = ((net(xt) - yt) ** 2 / 100.0).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return np.asarray(net(torch.from_numpy(x_test)).numpy(), np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000, help="training poses (test: a quarter)")
    ap.add_argument("--target", choices=tuple(TARGETS), default="textbook")
    args = ap.parse_args()
    train = _samples(args.samples, held_out=False, seed=0, target=args.target)
    test = _samples(args.samples // 4, held_out=True, seed=1, target=args.target)
    truth = test["rot"][:, 0]
    rows = [("guess 0", np.zeros_like(truth))]
    for name, key in (
        ("masks", "masks"),
        ("masks, sweep", "sweep"),
        ("masks + aorta, valves", "extra"),
    ):
        rows.append((name, _fit(train[key], train["rot"], test[key])[:, 0]))
    print(f"held-out poses: {truth.size}; rotation offsets uniform in +-20 deg from {args.target}")
    print(f"{'observation':<24} {'MAE deg':>8} {'within 3 deg':>13} {'within 5 deg':>13}")
    for name, pred in rows:
        err = np.abs(pred - truth)
        print(f"{name:<24} {err.mean():8.2f} {np.mean(err < 3.0):13.2f} {np.mean(err < 5.0):13.2f}")


if __name__ == "__main__":
    main()
