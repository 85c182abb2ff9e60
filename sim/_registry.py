"""Simulators by modality name, imported on first use."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ._protocol import Simulator

_SIMULATORS = {
    "echo": ("orstream.sim._echo", "EchoSimulator"),
    "fluoro": ("orstream.sim._fluoro", "FluoroSimulator"),
    "us": ("orstream.sim._us", "UltrasoundSimulator"),
}
MODALITIES = tuple(_SIMULATORS)


def make_simulator(modality: str, **options: Any) -> Simulator:
    """The simulator of ``modality`` ("echo", "fluoro", "us") built with ``options``.

    Options a simulator does not take raise ValueError naming them (``ef`` is echo only).
    """
    if modality not in _SIMULATORS:
        raise ValueError(f"unknown modality {modality!r}: choose one of {', '.join(MODALITIES)}")
    module_name, class_name = _SIMULATORS[modality]
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"the {modality} simulator takes no option(s) {', '.join(unknown)}")
    simulator: Simulator = cls(**options)
    return simulator
