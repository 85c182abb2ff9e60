"""The ``echo-lv-camus`` task: echo-lv's network trained on real CAMUS echo plus simulator frames.

Data: every CAMUS train image (:mod:`._dataset_camus`, 400 patients, A2C and A4C at ED and ES,
masks mapped to echo-lv's classes) resized to the model input as ``segment_images`` does it,
and :data:`CAMUS_SIM_SEEDS` simulator seeds (2 frames each, :func:`~._train_echo.render_echo`,
the echo-lv train seeds) drawn alongside: :data:`CAMUS_SIM_SHARE` of the pool (about 1 frame in
3) is simulated, so the model keeps the simulator's every cardiac phase, exact anatomy and
right heart while it learns real speckle, dropout and clutter. Both kinds are augmented afresh
per sample by :func:`~._train_echo.augment_echo` (affine, sector cropping, gain, gamma, depth
ramps, haze, blur, resolution loss, noise, JPEG, burned-in text). Validation: the CAMUS val
split only (50 other patients). CAMUS has no right-heart labels (its background covers RV and
RA), so on real images the model learns to leave them out of the LV, myocardium and LA.
Weights trained on CAMUS carry its licence (:data:`~._dataset_camus.CAMUS_LICENCE`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from ..kernels import (
    SegRecipe,
    SegTask,
    TrainingData,
    TrainOptions,
    batches,
    fixed_batches,
    to_model_input,
)
from ._dataset_camus import CAMUS_CITATION, CAMUS_LICENCE, CAMUS_TO_ECHO_LV, CamusSet, load_camus
from ._train_camus_eval import evaluate_camus_task
from ._train_echo import ECHO_LV, ECHO_RENDER_SIZES, ECHO_SPLIT_SEEDS, augment_echo, render_echo

U8 = npt.NDArray[np.uint8]

CAMUS_SIM_SEEDS: Final = 400
"""Simulator seeds (2 frames each) mixed with the 1,600 CAMUS train images."""
CAMUS_SIM_SHARE: Final = 2 * CAMUS_SIM_SEEDS / (2 * CAMUS_SIM_SEEDS + 1600)
_BATCH_STREAM: Final = 0xCA3

ECHO_LV_CAMUS: Final = SegRecipe(
    name="echo-lv-camus",
    input_size=ECHO_LV.input_size,
    class_names=ECHO_LV.class_names,
    architecture=ECHO_LV.architecture,
    normalization=ECHO_LV.normalization,
    description="LV cavity, LV myocardium, RV, LA and RA in apical 4- and 2-chamber echo "
    "(B-mode, grey), echo-lv's network trained on real CAMUS echo (CC BY-NC-SA 4.0, "
    "non-commercial research only) and the orstream echo simulator",
    licence=f"{CAMUS_LICENCE}: derived from CAMUS; cite {CAMUS_CITATION}",
)


def camus_inputs(data: CamusSet, size: tuple[int, int]) -> tuple[U8, U8]:
    """(images, labels) uint8 (N, H, W) of ``data`` at the model input ``size``: images as
    ``segment_images`` resizes them, labels by nearest neighbour."""
    import cv2

    h, w = size
    images = np.stack([to_model_input(im, size) for im in data.images])
    labels = np.stack(
        [
            np.asarray(cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST), np.uint8)
            for lab in data.labels
        ]
    )
    return images, labels


def _training_data(options: TrainOptions) -> TrainingData:
    """CAMUS train + simulator frames, ``options.samples`` augmented samples per epoch drawn
    from the pool; CAMUS val (whole, un-augmented) validates."""
    r = ECHO_LV_CAMUS
    train = load_camus("train")
    val = load_camus("val")
    real_x, real_y = camus_inputs(train, r.input_size)
    val_x, val_y = camus_inputs(val, r.input_size)
    sim = render_echo(
        "train",
        CAMUS_SIM_SEEDS,
        size=r.input_size,
        render_sizes=ECHO_RENDER_SIZES,
        workers=options.workers,
        progress=options.progress,
    )
    pool_x = np.concatenate([real_x, sim.images])
    pool_y = np.concatenate([real_y, sim.labels])
    doc = {
        "real": {
            "source": "CAMUS (Leclerc et al. 2019), camus/train of the real-data folder: 400 "
            "patients, A2C and A4C at ED and ES, expert masks",
            "licence": CAMUS_LICENCE,
            "citation": CAMUS_CITATION,
            "images": len(train),
            "label_map": {str(k): v for k, v in CAMUS_TO_ECHO_LV.items()},
        },
        "simulator": {
            "source": "orstream.sim.EchoSimulator(randomize=True), Apache-2.0",
            "train_seeds": [ECHO_SPLIT_SEEDS["train"], ECHO_SPLIT_SEEDS["train"] + CAMUS_SIM_SEEDS],
            "frames_per_seed": 2,
            "frames": len(sim),
            "render_sizes": list(ECHO_RENDER_SIZES),
        },
        "simulated_share": round(CAMUS_SIM_SHARE, 3),
        "samples_per_epoch": options.samples,
        "train_frames": options.samples,
        "val": "CAMUS camus/val: 50 other patients, 200 images (the only validation data)",
        "val_frames": len(val),
        "augmentation": "orstream.sim.augment_echo (real and simulated alike)",
    }
    return TrainingData(
        batches(
            pool_x,
            pool_y,
            r.normalization,
            batch_size=options.batch_size,
            seed=options.seed,
            stream=_BATCH_STREAM,
            augment=augment_echo,
            samples=options.samples,
        ),
        fixed_batches(val_x, val_y, r.normalization, batch_size=16),
        options.samples,
        len(val),
        doc,
    )


CAMUS_TASK: Final = SegTask(ECHO_LV_CAMUS, _training_data, evaluate_camus_task)
"""The ``echo-lv-camus`` task: recipe, training data (CAMUS + simulator), CAMUS val report."""
