"""Training and validation batches of grey images and class masks, for every task.

:func:`batches` gives ``epoch -> batches``: a fresh seeded order and fresh augmentation each
epoch; :func:`fixed_batches` the un-augmented batches of a validation or test set in order.
With ``tips`` each batch also carries the tip heatmap targets (:func:`~._tip.heatmap_target`).
:func:`prefetch` makes batches ahead in a background thread (the GPU path of training).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from queue import Full, Queue
from typing import Any

import numpy as np
import numpy.typing as npt

from ._models import normalize
from ._tip import heatmap_target

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
Batch = tuple[F32, npt.NDArray[np.integer[Any]]] | tuple[F32, npt.NDArray[np.integer[Any]], F32]
"""x float32 (B, C, H, W) normalised images; y integer (B, H, W) class indices; for a tip
model also heat float32 (B, H, W) target heatmaps."""
Augment = Callable[..., tuple[Any, ...]]
"""``augment(image, labels, rng) -> (image, labels)``, or with tips ``augment(image, labels,
tip, rng) -> (image, labels, tip)``: uint8 (H, W) arrays, tip (x, y) px (NaN: none)."""


def _collate(
    items: Sequence[tuple[Any, ...]],
    normalization: dict[str, Any],
    heat_sigma: float | None,
) -> Batch:
    """(x, y) or, with ``heat_sigma``, (x, y, heat) of (image, labels[, tip]) items."""
    x = normalize(np.stack([it[0] for it in items]), normalization)
    y = np.stack([it[1] for it in items])
    if heat_sigma is None:
        return x, y
    shape = (int(y.shape[1]), int(y.shape[2]))
    return x, y, np.stack([heatmap_target(it[2], shape, heat_sigma) for it in items])


def batches(
    images: Sequence[U8] | U8,
    labels: Sequence[U8] | U8,
    normalization: dict[str, Any],
    *,
    batch_size: int,
    seed: int,
    stream: int,
    augment: Augment | None = None,
    samples: int | None = None,
    tips: npt.NDArray[np.float64] | None = None,
    heat_sigma: float = 2.0,
) -> Callable[[int], Iterator[Batch]]:
    """``epoch -> iterator of (x float32 (B, 1, H, W), y uint8 (B, H, W))``, with ``tips``
    float64 (N, 2) also heat float32 (B, H, W) (Gaussian of ``heat_sigma`` px).

    ``images`` and ``labels``: uint8 (N, H, W) (or N arrays of one shape) at the model input.
    Each epoch draws a generator seeded by (``seed``, epoch, ``stream``: the task's own
    number), takes ``samples`` (default N) indices from fresh permutations of the N images
    (cycled when ``samples`` > N) and passes each image through ``augment`` (None: as is)
    before normalising; the last partial batch is dropped. ValueError without images.
    """
    n = len(images)
    if n == 0:
        raise ValueError("no training images")
    count = n if samples is None else samples
    sigma = None if tips is None else heat_sigma

    def item(i: int) -> tuple[Any, ...]:
        if tips is None:
            return images[i], labels[i]
        return images[i], labels[i], (tips[i, 0], tips[i, 1])

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        rng = np.random.default_rng([seed, epoch, stream])
        passes = -(-count // n)
        order = np.concatenate([rng.permutation(n) for _ in range(passes)])[:count]
        for start in range(0, count - batch_size + 1, batch_size):
            picks = order[start : start + batch_size]
            items = [item(i) if augment is None else augment(*item(i), rng) for i in picks]
            yield _collate(items, normalization, sigma)

    return epoch_batches


def fixed_batches(
    images: Sequence[U8] | U8,
    labels: Sequence[U8] | U8,
    normalization: dict[str, Any],
    batch_size: int = 64,
    *,
    tips: npt.NDArray[np.float64] | None = None,
    heat_sigma: float = 2.0,
) -> list[Batch]:
    """Un-augmented batches of ``batch_size`` (the last one shorter) in order, laid out as
    :func:`batches` lays them out (validation and test)."""
    sigma = None if tips is None else heat_sigma
    out = []
    for start in range(0, len(images), batch_size):
        span = range(start, min(start + batch_size, len(images)))
        items = [
            (images[i], labels[i]) if tips is None else (images[i], labels[i], tips[i])
            for i in span
        ]
        out.append(_collate(items, normalization, sigma))
    return out


def prefetch(batches: Iterable[Batch], depth: int = 3) -> Generator[Batch, None, None]:
    """``batches`` in order, made up to ``depth`` ahead in a background thread (an error there
    is raised here, at the batch where it happened)."""
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def fill() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    worker = threading.Thread(target=fill, name="batch-prefetch", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
