"""Rendering training data in worker processes, results in the order of the jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def map_jobs(
    fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = 1, chunksize: int = 16
) -> Iterator[tuple[Any, Any]]:
    """``(job, fn(job))`` for each job in order, in ``workers`` processes when more than one
    (``fn`` must be a module-level function); rendering training data is the use."""
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from zip(jobs, pool.map(fn, jobs, chunksize=chunksize), strict=True)
    else:
        for job in jobs:
            yield job, fn(job)
