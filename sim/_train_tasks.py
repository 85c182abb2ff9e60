"""The training task of each shipped segmentation model, by model name.

``orstream train seg --model NAME`` and ``orstream eval seg --model NAME`` find their
``orstream.kernels.SegTask`` (recipe, training data, evaluation) here.
"""

from __future__ import annotations

from typing import Final

from ..kernels import SegTask
from ._train_camus import CAMUS_TASK
from ._train_echo import ECHO_TASK
from ._train_fluoro_eval import FLUORO_TASK
from ._train_needle_eval import NEEDLE_TASK
from ._train_usgra import USGRA_TASK

_TASKS: Final = {
    task.recipe.name: task for task in (ECHO_TASK, CAMUS_TASK, FLUORO_TASK, USGRA_TASK, NEEDLE_TASK)
}

TRAINING_TASKS: Final = tuple(_TASKS)
"""The names of the models that have a training task."""


def training_task(model: str) -> SegTask:
    """The training task of model ``model``; ValueError lists the known ones."""
    if model not in _TASKS:
        raise ValueError(
            f"no training recipe for model {model!r}; known: {', '.join(TRAINING_TASKS)}"
        )
    return _TASKS[model]
