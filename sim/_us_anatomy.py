"""Random regional-anaesthesia anatomy for the linear-array ultrasound simulator.

:func:`sample_anatomy` draws, per seed, tissue layers (skin, subcutaneous fat, one to three
muscles, deep tissue), a neurovascular bundle (one to three vessels: a pulsatile artery, a
compressible vein, maybe a small vessel; one or two nerves as fascicle clusters) and maybe a bone
surface. :mod:`sim._us_tissue` rasterises it. Coordinates are image millimetres at zero probe
motion: x lateral from the left image edge, y depth from the skin (transducer face).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Layer:
    """One tissue layer; its lower boundary is ``bottom_mm`` plus a smooth wave and a tilt."""

    name: str
    """"skin", "fat", "muscle" or "deep" (the texture used)."""
    bottom_mm: float
    """Mean depth of the lower boundary, mm (the deep layer reaches the image bottom)."""
    echo: float
    """Diffuse echogenicity, linear amplitude (1.0 = 0 dB)."""
    texture: float
    """Strength of the layer's texture (fat septa, muscle striation), 0-2."""
    texture_tilt_deg: float
    """Orientation of striations, degrees (positive: deeper to the right)."""
    atten_rel: float
    """Attenuation relative to the run's tissue attenuation."""
    fascia: float
    """Amplitude of the specular fascia line at the lower boundary (0: none)."""
    wave_mm: float
    """Excursion of the lower boundary, mm."""
    tilt_deg: float
    """Tilt of the lower boundary, degrees."""


@dataclass(frozen=True, slots=True)
class Vessel:
    """A vessel seen in cross-section: an elliptical anechoic lumen with a bright wall."""

    kind: str
    """"artery" (round, pulsatile) or "vein" (oval, compressible by probe pressure)."""
    center_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float]
    """(lateral, axial) lumen semi-axes at rest, mm (before rotation by ``angle_deg``)."""
    angle_deg: float
    wall: float
    """Wall echo added to the tissue's, relative (strongest at the top and bottom of the wall)."""
    blood: float
    """Lumen amplitude relative to the tissue it replaces (0.08-0.25: clutter, not black)."""
    pulse: float
    """Artery: relative radius increase at systole (0.03-0.10); vein: 0."""
    compress: float
    """Vein: fraction of the axial semi-axis lost at peak probe pressure (0-0.7); artery: 0."""

    def scale_squash(self, t_s: float, heart_hz: float, pressure: float) -> tuple[float, float]:
        """(radius scale, axial squash) at time ``t_s`` s; ``pressure`` is 0-1 probe pressure."""
        if self.kind == "artery":
            ph = (t_s * heart_hz) % 1.0
            wave = math.exp(-(((ph - 0.12) / 0.07) ** 2)) + 0.35 * math.exp(
                -(((ph - 0.38) / 0.1) ** 2)
            )
            return 1.0 + self.pulse * wave / 1.02, 1.0 - 0.05 * pressure
        return 1.0, max(1.0 - self.compress * pressure, 0.12)

    def radius_mm(self) -> float:
        """Largest extent from the centre, mm (including pulsation)."""
        return max(self.semi_axes_mm) * (1.0 + self.pulse)


@dataclass(frozen=True, slots=True)
class Nerve:
    """A peripheral nerve: hypoechoic fascicles in hyperechoic connective tissue and rim."""

    center_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float]
    angle_deg: float
    fascicles: tuple[tuple[float, float, float], ...]
    """(dx, dy, radius) of each fascicle, mm, relative to the centre (unrotated)."""
    echo: float
    """Echogenicity of the interfascicular tissue, relative to the tissue around the nerve."""
    fascicle_echo: float
    """Echogenicity of the fascicles, relative to the tissue around the nerve."""
    rim: float
    """Amplitude of the specular epineurium rim."""

    def radius_mm(self) -> float:
        """Largest semi-axis, mm."""
        return max(self.semi_axes_mm)


@dataclass(frozen=True, slots=True)
class Bone:
    """A bone surface: a bright convex arc with a complete acoustic shadow below."""

    kind: str
    """"long" (spans the image) or "rib" (a short arc)."""
    top_mm: tuple[float, float]
    """(x, y) of the apex of the arc, mm."""
    radius_mm: float
    """Radius of curvature, mm."""
    half_width_mm: float
    """Lateral half-extent of the visible surface, mm."""
    brightness: float
    """Amplitude of the surface echo at normal incidence (tissue is about 1)."""


@dataclass(frozen=True, slots=True)
class Belly:
    """A muscle belly or connective-tissue region: an ellipse of different echogenicity with a
    bright fascial border, drawn over the layers."""

    center_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float]
    angle_deg: float
    echo_rel: float
    """Echogenicity relative to the layer underneath."""
    border: float
    """Amplitude of the fascial border (0: none)."""


@dataclass(frozen=True, slots=True)
class Anatomy:
    """Everything drawn for one seed; echogenicities are linear amplitudes (tissue about 1)."""

    layers: tuple[Layer, ...]
    bellies: tuple[Belly, ...]
    vessels: tuple[Vessel, ...]
    nerves: tuple[Nerve, ...]
    bone: Bone | None
    heart_hz: float
    """Artery pulsation rate, Hz."""
    pressure_hz: float
    """Rate of the slow probe-pressure cycle that compresses veins, Hz."""

    def to_json(self) -> dict[str, Any]:
        """JSON-able description (floats rounded to 1e-4)."""
        out: dict[str, Any] = _round(asdict(self))
        return out


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_round(v) for v in obj]
    return obj


def _sample_layers(rng: np.random.Generator, depth_mm: float) -> list[Layer]:
    u = rng.uniform

    def layer(name: str, bottom: float, echo: tuple[float, float], fascia: float) -> Layer:
        return Layer(
            name, bottom, echo=u(*echo), texture=u(0.5, 1.4), texture_tilt_deg=u(-18, 18),
            atten_rel=0.7 if name == "fat" else u(0.9, 1.2), fascia=fascia,
            wave_mm=u(0.3, 2.0), tilt_deg=u(-10, 10),
        )  # fmt: skip

    skin = Layer("skin", u(1.0, 2.2), u(1.2, 2.5), u(0.3, 0.8), 0.0, 1.0, u(0.4, 1.2), 0.2, 0.0)
    bottom = skin.bottom_mm + u(1.5, 0.2 * depth_mm)
    layers = [skin, layer("fat", bottom, (0.3, 0.8), u(10.0, 50.0))]
    for _ in range(int(rng.choice([1, 2, 3], p=[0.25, 0.45, 0.3]))):
        bottom += u(4.0, 13.0)
        if bottom > 0.9 * depth_mm:
            break
        layers.append(layer("muscle", bottom, (0.3, 1.5), u(8.0, 50.0)))
    deep = layer("deep", depth_mm * 2.0, (0.4, 1.0), 0.0)
    layers.append(Layer(**{**asdict(deep), "wave_mm": 0.0, "tilt_deg": 0.0}))
    return layers


def _fits(
    placed: list[tuple[float, float, float]], x: float, y: float, r: float, gap: float
) -> bool:
    return all(math.hypot(x - px, y - py) >= r + pr + gap for px, py, pr in placed)


def _sample_fascicles(
    rng: np.random.Generator, a: float, b: float
) -> tuple[tuple[float, float, float], ...]:
    """Pack hypoechoic fascicles into an ellipse of semi-axes (a, b) mm."""
    grapes = rng.uniform() < 0.35
    if grapes:  # few large fascicles ("bunch of grapes", e.g. the brachial plexus trunks)
        target, rmin, rmax = int(rng.integers(3, 8)), 0.5, 1.3
    else:  # many small fascicles ("honeycomb", e.g. sciatic, median nerves)
        target, rmin, rmax = int(rng.integers(8, 25)), 0.3, 0.75
    scale = min(1.0, min(a, b) / (2.2 * rmax))
    out: list[tuple[float, float, float]] = []
    for _ in range(target * 60):
        if len(out) >= target:
            break
        r = rng.uniform(rmin, rmax) * max(scale, 0.4)
        x, y = rng.uniform(-a, a), rng.uniform(-b, b)
        if (x / max(a - r, 0.1)) ** 2 + (y / max(b - r, 0.1)) ** 2 > 0.85:
            continue
        if _fits(out, x, y, r, 0.15):
            out.append((x, y, r))
    return tuple(out)


def _sample_nerve(rng: np.random.Generator, x: float, y: float, a: float) -> Nerve:
    b = a * rng.uniform(0.45, 0.9)
    return Nerve(
        center_mm=(x, y),
        semi_axes_mm=(a, b),
        angle_deg=rng.uniform(-25.0, 25.0),
        fascicles=_sample_fascicles(rng, a, b),
        echo=rng.uniform(2.2, 3.8),
        fascicle_echo=rng.uniform(0.12, 0.35),
        rim=rng.uniform(3.0, 10.0),
    )


def _sample_bundle(
    rng: np.random.Generator, width_mm: float, depth_mm: float, top_mm: float
) -> tuple[list[Vessel], list[Nerve]]:
    """Place 1-3 vessels and 1-2 nerves around an artery, without overlaps."""
    u = rng.uniform
    placed: list[tuple[float, float, float]] = []
    lo_y, hi_y = top_mm, 0.88 * depth_mm

    def inside(x: float, y: float, r: float) -> bool:
        return lo_y + r <= y <= hi_y - r and -0.3 * r <= x <= width_mm + 0.3 * r

    def near(cx: float, cy: float, cr: float, r: float, lateral: bool) -> tuple[float, float]:
        for _ in range(40):
            if lateral:
                ang = rng.choice([0.0, math.pi]) + rng.normal(0.0, 0.5)
            else:
                ang = u(0.0, 2.0 * math.pi)
            d = cr + r + u(0.4, 3.5)
            x, y = cx + d * math.cos(ang), cy + d * math.sin(ang)
            if inside(x, y, r) and _fits(placed, x, y, r, 0.4):
                return x, y
        for _ in range(200):  # anywhere that fits
            x, y = u(r, width_mm - r), u(lo_y + r, max(hi_y - r, lo_y + r + 0.1))
            if _fits(placed, x, y, r, 0.4):
                return x, y
        return math.nan, math.nan

    vessels: list[Vessel] = []
    n_vessels = int(rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2]))
    ra = u(1.4, min(4.5, 0.12 * depth_mm))
    cy = u(lo_y + ra + 1.0, max(0.62 * depth_mm, lo_y + ra + 1.5))
    cx = u(0.25, 0.75) * width_mm
    first = "artery" if rng.uniform() < 0.8 else "vein"
    specs = [(first, ra, cx, cy)]
    if n_vessels >= 2:
        rv = u(1.5, 5.0)
        specs.append(("vein" if first == "artery" else "artery", rv, math.nan, math.nan))
    if n_vessels == 3:
        specs.append((str(rng.choice(["artery", "vein"])), u(0.6, 1.5), math.nan, math.nan))
    for i, (kind, r, x0, y0) in enumerate(specs):
        if i == 0:
            x, y = x0, y0
        else:
            x, y = near(cx, cy, ra, r, lateral=(i == 1))
            if math.isnan(x):
                continue
        if kind == "artery":
            axes, pulse, comp = (r, r * u(0.85, 1.0)), u(0.03, 0.1), 0.0
        else:
            axes, pulse, comp = (r, r * u(0.4, 0.85)), 0.0, u(0.1, 0.7)
        vessels.append(
            Vessel(kind, (x, y), axes, u(-20, 20), u(1.0, 4.0), u(0.08, 0.25), pulse, comp)
        )
        placed.append((x, y, max(axes) * (1.0 + pulse) + 0.3))
    nerves: list[Nerve] = []
    n_nerves = int(rng.choice([1, 2], p=[0.55, 0.45]))
    shrink = 1.0
    while len(nerves) < n_nerves and shrink > 0.2:  # at least one nerve, smaller if crowded
        a = u(1.5, max(min(5.0, 0.13 * depth_mm), 1.6)) * shrink
        bx, by, br = placed[0] if not nerves or rng.uniform() < 0.5 else placed[-1]
        x, y = near(bx, by, br, a, lateral=False)
        if math.isnan(x):
            shrink *= 0.7 if not nerves else 0.0
            continue
        nerves.append(_sample_nerve(rng, x, y, a))
        placed.append((x, y, a))
    return vessels, nerves


def sample_anatomy(rng: np.random.Generator, width_mm: float, depth_mm: float) -> Anatomy:
    """Draw one random anatomy for a ``width_mm`` x ``depth_mm`` linear-array image."""
    layers = _sample_layers(rng, depth_mm)
    fat_bottom = layers[1].bottom_mm + layers[1].wave_mm + 1.0
    vessels, nerves = _sample_bundle(rng, width_mm, depth_mm, max(fat_bottom, 0.15 * depth_mm))
    deepest = max(
        [v.center_mm[1] + v.radius_mm() for v in vessels]
        + [n.center_mm[1] + n.radius_mm() for n in nerves]
    )
    bone = None
    if rng.uniform() < 0.45 and deepest + 3.0 < depth_mm - 4.0:
        long = rng.uniform() < 0.5
        bone = Bone(
            kind="long" if long else "rib",
            top_mm=(rng.uniform(0.2, 0.8) * width_mm, rng.uniform(deepest + 3.0, depth_mm - 4.0)),
            radius_mm=rng.uniform(30.0, 90.0) if long else rng.uniform(7.0, 14.0),
            half_width_mm=width_mm if long else rng.uniform(4.0, 9.0),
            brightness=rng.uniform(15.0, 40.0),
        )
    bellies = []
    for _ in range(int(rng.integers(0, 4))):
        a = rng.uniform(0.4, 0.9) * width_mm
        bellies.append(
            Belly(
                center_mm=(rng.uniform(0.0, width_mm), rng.uniform(fat_bottom + 2.0, depth_mm)),
                semi_axes_mm=(a, a * rng.uniform(0.2, 0.45)),
                angle_deg=rng.uniform(-20.0, 20.0),
                echo_rel=float(np.exp(rng.uniform(-0.6, 0.6))),
                border=rng.uniform(0.0, 20.0),
            )
        )
    return Anatomy(
        layers=tuple(layers),
        bellies=tuple(bellies),
        vessels=tuple(vessels),
        nerves=tuple(nerves),
        bone=bone,
        heart_hz=rng.uniform(0.95, 1.5),
        pressure_hz=rng.uniform(0.08, 0.3),
    )
