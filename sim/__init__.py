"""orstream.sim: see ARCHITECTURE.md for what this package owns."""

from ._echo import EchoSimulator
from ._echo_rf import RfEchoSimulator
from ._fluoro import FluoroSimulator
from ._protocol import SimFrame, Simulator
from ._us import UltrasoundSimulator

__all__ = [
    "EchoSimulator",
    "FluoroSimulator",
    "RfEchoSimulator",
    "SimFrame",
    "Simulator",
    "UltrasoundSimulator",
]
