"""Benchmarks: side-by-side figures against the peers a user would pick instead.

One module per benchmark (``orstream.bench.<name>``, listed in :data:`BENCHMARKS`) with
``run(...) -> dict`` and ``render(report) -> str``; :func:`plots_for` draws a report's charts.
"""

from ._catalog import BENCHMARKS
from ._plots import CHART_SHAPE, plots_for

__all__ = ["BENCHMARKS", "CHART_SHAPE", "plots_for"]
