"""orstream.sim: what this package owns is in docs/architecture.md."""

from ._bmode import SectorGeometry
from ._catheter import load_real_centerlines
from ._data import data_dir, data_path
from ._dataset_usgra import (
    USGRA_SPLIT_SEED,
    UsgraSet,
    decode_usgra_mask,
    find_usgra,
    load_usgra,
    near_duplicate_groups,
    read_usgra_mask,
    usgra_split,
)
from ._echo import RANGES as ECHO_RANGES
from ._echo import VIEWS as ECHO_VIEWS
from ._echo import EchoSimulator
from ._echo_panel import echo_panel
from ._echo_rf import RfEchoSimulator
from ._fluoro import FluoroSimulator
from ._fluoro_physics import FluoroPhysics
from ._heart import CardiacCycle
from ._protocol import SimFrame, Simulator
from ._registry import MODALITIES, make_simulator
from ._source import SimSource, open_sim_source, sim_frame_to_frame
from ._train_echo import (
    ECHO_LV,
    ECHO_RENDER_SIZES,
    ECHO_SPLIT_SEEDS,
    EchoSet,
    augment_echo,
    render_echo,
    score_echo,
)
from ._train_fluoro import (
    FLUORO_CATHETER,
    FLUORO_SPLIT_SEEDS,
    FLUORO_TRAIN_CROP,
    FluoroView,
    augment_fluoro_view,
    fluoro_frame_indices,
    fluoro_frame_views,
    fluoro_run,
    fluoro_subcrop,
    fluoro_view,
)
from ._train_needle import (
    NEEDLE_FPS,
    NEEDLE_HEAT_SIGMA_PX,
    NEEDLE_SPLIT_SEEDS,
    US_NEEDLE,
    NeedleSet,
    augment_needle,
    flip_needle,
    mask_to_input,
    needle_frame_shape,
    render_needle,
    render_needle_seed,
)
from ._train_needle_eval import score_needle
from ._train_tasks import TRAINING_TASKS, training_task
from ._train_usgra import (
    US_NERVE_VESSEL,
    augment_usgra,
    augment_usgra_geometry,
    score_usgra,
    usgra_squares,
)
from ._us import UltrasoundSimulator
from ._us_panel import truth_overlay

__all__ = [
    "ECHO_LV",
    "ECHO_RANGES",
    "ECHO_RENDER_SIZES",
    "ECHO_SPLIT_SEEDS",
    "ECHO_VIEWS",
    "FLUORO_CATHETER",
    "FLUORO_SPLIT_SEEDS",
    "FLUORO_TRAIN_CROP",
    "MODALITIES",
    "NEEDLE_FPS",
    "NEEDLE_HEAT_SIGMA_PX",
    "NEEDLE_SPLIT_SEEDS",
    "TRAINING_TASKS",
    "USGRA_SPLIT_SEED",
    "US_NEEDLE",
    "US_NERVE_VESSEL",
    "CardiacCycle",
    "EchoSet",
    "EchoSimulator",
    "FluoroPhysics",
    "FluoroSimulator",
    "FluoroView",
    "NeedleSet",
    "RfEchoSimulator",
    "SectorGeometry",
    "SimFrame",
    "SimSource",
    "Simulator",
    "UltrasoundSimulator",
    "UsgraSet",
    "augment_echo",
    "augment_fluoro_view",
    "augment_needle",
    "augment_usgra",
    "augment_usgra_geometry",
    "data_dir",
    "data_path",
    "decode_usgra_mask",
    "echo_panel",
    "find_usgra",
    "flip_needle",
    "fluoro_frame_indices",
    "fluoro_frame_views",
    "fluoro_run",
    "fluoro_subcrop",
    "fluoro_view",
    "load_real_centerlines",
    "load_usgra",
    "make_simulator",
    "mask_to_input",
    "near_duplicate_groups",
    "needle_frame_shape",
    "open_sim_source",
    "read_usgra_mask",
    "render_echo",
    "render_needle",
    "render_needle_seed",
    "score_echo",
    "score_needle",
    "score_usgra",
    "sim_frame_to_frame",
    "training_task",
    "truth_overlay",
    "usgra_split",
    "usgra_squares",
]
