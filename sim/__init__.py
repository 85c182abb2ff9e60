"""orstream.sim: what this package owns is in docs/architecture.md."""

from ._bmode import SectorGeometry
from ._case_panel import PanelCase, save_panel, worst_cases_panel
from ._catheter import load_real_centerlines
from ._data import data_dir, data_path
from ._dataset_camus import (
    CAMUS_CITATION,
    CAMUS_LICENCE,
    CAMUS_TO_ECHO_LV,
    CamusSet,
    MaskFolder,
    load_camus,
    map_labels,
    parse_camus_name,
    parse_label_map,
    read_mask_folder,
)
from ._dataset_usgra import (
    USGRA_FOLDS,
    USGRA_SPLIT_SEED,
    UsgraSet,
    decode_usgra_mask,
    find_usgra,
    load_usgra,
    near_duplicate_groups,
    read_usgra_mask,
    usgra_folds,
    usgra_split,
)
from ._echo import RANGES as ECHO_RANGES
from ._echo import EchoSimulator
from ._echo_panel import echo_panel
from ._echo_pose import VIEWS as ECHO_VIEWS
from ._echo_rf import RfEchoSimulator
from ._failure_cases import false_needle_cases, fluoro_worst_cases, needle_worst_cases
from ._fluoro import FluoroSimulator
from ._fluoro_physics import FluoroPhysics
from ._heart import CardiacCycle
from ._nav_anatomy import HELD_OUT_TREE_SEED, NAV_ANATOMIES, load_centerline_tree
from ._nav_obs import SeenTip, TrackerNoise, along_tree_mm, nav_observation, route_flags
from ._nav_register import make_nav_env, register_nav_envs
from ._nav_render import NavFluoroRenderer
from ._nav_roadmap import NavRoadmap, read_roadmap, roadmap_from_json, write_roadmap
from ._nav_spec import (
    ADVANCE_MM_S,
    CONTROL_HZ,
    MAX_FORCE_N,
    NAV_ENV_IDS,
    NAV_OBS_LAYOUT,
    NAV_OBS_SIZE,
    ROTATE_RAD_S,
    SAFE_FORCE_N,
    STEP_MM,
    STEP_RAD,
    SUCCESS_MM,
)
from ._nav_tree import BEND_RAD, NavTree, Tip
from ._probe_nav_spec import (
    PROBE_ACTION_LAYOUT,
    PROBE_DWELL,
    PROBE_ENV_IDS,
    PROBE_ENV_SETTINGS,
    PROBE_HISTORY,
    PROBE_LIMITS,
    PROBE_MAX_STEPS,
    PROBE_OBS_LAYOUT,
    PROBE_OBS_SIZE,
    PROBE_START_RANGE,
    PROBE_STEP_CAPS,
    PROBE_SUCCESS_DEG,
    PROBE_SUCCESS_MM,
    PROBE_TARGETS,
    probe_obs_size,
)
from ._probe_obs_noise import MaskNoise
from ._probe_view import HELD_OUT_PHANTOM_SEED, ProbeView
from ._probe_view import view_quality as probe_view_quality
from ._protocol import SimFrame, Simulator
from ._registry import MODALITIES, make_simulator
from ._robot import DEFAULT_TIMEOUT_MS as ROBOT_TIMEOUT_MS
from ._robot import HaltEvent, SimRobot, parse_command
from ._robot_fluoro import RobotFluoroSimulator
from ._source import SimSource, open_sim_source, sim_frame_to_frame
from ._tip_confidence import (
    confidence_spread,
    fluoro_tip_confidence,
    needle_tip_confidence,
    robot_fluoro_tip_confidence,
)
from ._train_camus import CAMUS_SIM_SEEDS, ECHO_LV_CAMUS, camus_inputs
from ._train_camus_eval import camus_ef, evaluate_folder
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
    LOW_DOSE_RANGE,
    FluoroView,
    augment_fluoro_view,
    fluoro_frame_indices,
    fluoro_frame_views,
    fluoro_run,
    fluoro_subcrop,
    fluoro_view,
    low_dose_for,
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
from ._train_needle_eval import render_shallow_needle, score_needle
from ._train_tasks import TRAINING_TASKS, training_task
from ._train_usgra import (
    US_NERVE_VESSEL,
    augment_usgra,
    augment_usgra_geometry,
    score_usgra,
    usgra_fold_split,
    usgra_squares,
)
from ._us import UltrasoundSimulator
from ._us_panel import truth_overlay

register_nav_envs()  # gymnasium ids under orstream/ (nothing without the train extra)

__all__ = [
    "ADVANCE_MM_S",
    "BEND_RAD",
    "CAMUS_CITATION",
    "CAMUS_LICENCE",
    "CAMUS_SIM_SEEDS",
    "CAMUS_TO_ECHO_LV",
    "CONTROL_HZ",
    "ECHO_LV",
    "ECHO_LV_CAMUS",
    "ECHO_RANGES",
    "ECHO_RENDER_SIZES",
    "ECHO_SPLIT_SEEDS",
    "ECHO_VIEWS",
    "FLUORO_CATHETER",
    "FLUORO_SPLIT_SEEDS",
    "FLUORO_TRAIN_CROP",
    "HELD_OUT_PHANTOM_SEED",
    "HELD_OUT_TREE_SEED",
    "LOW_DOSE_RANGE",
    "MAX_FORCE_N",
    "MODALITIES",
    "NAV_ANATOMIES",
    "NAV_ENV_IDS",
    "NAV_OBS_LAYOUT",
    "NAV_OBS_SIZE",
    "NEEDLE_FPS",
    "NEEDLE_HEAT_SIGMA_PX",
    "NEEDLE_SPLIT_SEEDS",
    "PROBE_ACTION_LAYOUT",
    "PROBE_DWELL",
    "PROBE_ENV_IDS",
    "PROBE_ENV_SETTINGS",
    "PROBE_HISTORY",
    "PROBE_LIMITS",
    "PROBE_MAX_STEPS",
    "PROBE_OBS_LAYOUT",
    "PROBE_OBS_SIZE",
    "PROBE_START_RANGE",
    "PROBE_STEP_CAPS",
    "PROBE_SUCCESS_DEG",
    "PROBE_SUCCESS_MM",
    "PROBE_TARGETS",
    "ROBOT_TIMEOUT_MS",
    "ROTATE_RAD_S",
    "SAFE_FORCE_N",
    "STEP_MM",
    "STEP_RAD",
    "SUCCESS_MM",
    "TRAINING_TASKS",
    "USGRA_FOLDS",
    "USGRA_SPLIT_SEED",
    "US_NEEDLE",
    "US_NERVE_VESSEL",
    "CamusSet",
    "CardiacCycle",
    "EchoSet",
    "EchoSimulator",
    "FluoroPhysics",
    "FluoroSimulator",
    "FluoroView",
    "HaltEvent",
    "MaskFolder",
    "MaskNoise",
    "NavFluoroRenderer",
    "NavRoadmap",
    "NavTree",
    "NeedleSet",
    "PanelCase",
    "ProbeView",
    "RfEchoSimulator",
    "RobotFluoroSimulator",
    "SectorGeometry",
    "SeenTip",
    "SimFrame",
    "SimRobot",
    "SimSource",
    "Simulator",
    "Tip",
    "TrackerNoise",
    "UltrasoundSimulator",
    "UsgraSet",
    "along_tree_mm",
    "augment_echo",
    "augment_fluoro_view",
    "augment_needle",
    "augment_usgra",
    "augment_usgra_geometry",
    "camus_ef",
    "camus_inputs",
    "confidence_spread",
    "data_dir",
    "data_path",
    "decode_usgra_mask",
    "echo_panel",
    "evaluate_folder",
    "false_needle_cases",
    "find_usgra",
    "flip_needle",
    "fluoro_frame_indices",
    "fluoro_frame_views",
    "fluoro_run",
    "fluoro_subcrop",
    "fluoro_tip_confidence",
    "fluoro_view",
    "fluoro_worst_cases",
    "load_camus",
    "load_centerline_tree",
    "load_real_centerlines",
    "load_usgra",
    "low_dose_for",
    "make_nav_env",
    "make_simulator",
    "map_labels",
    "mask_to_input",
    "nav_observation",
    "near_duplicate_groups",
    "needle_frame_shape",
    "needle_tip_confidence",
    "needle_worst_cases",
    "open_sim_source",
    "parse_camus_name",
    "parse_command",
    "parse_label_map",
    "probe_obs_size",
    "probe_view_quality",
    "read_mask_folder",
    "read_roadmap",
    "read_usgra_mask",
    "register_nav_envs",
    "render_echo",
    "render_needle",
    "render_needle_seed",
    "render_shallow_needle",
    "roadmap_from_json",
    "robot_fluoro_tip_confidence",
    "route_flags",
    "save_panel",
    "score_echo",
    "score_needle",
    "score_usgra",
    "sim_frame_to_frame",
    "training_task",
    "truth_overlay",
    "usgra_fold_split",
    "usgra_folds",
    "usgra_split",
    "usgra_squares",
    "worst_cases_panel",
    "write_roadmap",
]
