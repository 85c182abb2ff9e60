"""orstream: a real-time imaging engine for the operating room and the echo lab."""

__version__ = "0.1.0"
