"""The house rules of ARCHITECTURE.md that import-linter cannot see: tests/ and bench/ import
public names only (never another package's ``_private`` module, never the CLI), each package's
``__all__`` is pinned here (changing it is a deliberate edit of this file), and every module is
under 400 lines. The arrows between the packages are import-linter's (``lint-imports``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
CLI = "orstream.cli"
IMPORT_CALLS = {"import_module", "importorskip", "__import__"}
"""Calls with a literal module name that import it (importlib, pytest, builtins)."""

PUBLIC_NAMES: dict[str, tuple[str, ...]] = {
    "orstream.stream": (
        "DisplayHub",
        "DisplaySink",
        "FEEDBACK_FORMAT_VERSION",
        "NewestFrameTrack",
        "display_uri",
        "frame_telemetry",
        "mask_contours",
        "open_display_sink",
        "video_pts",
        "serve_plus_igtl",
        "DEFAULT_HEARTBEAT_HZ",
        "FEED_KINDS",
        "FEED_VERSION",
        "ROBOT_CONTROL_MAX_BYTES",
        "JsonControlServer",
        "RobotFeedReceiver",
        "RobotFeedSink",
        "bound_endpoint",
        "control_request",
        "WebRtcSource",
        "serve_igtl",
        "read_plus_sequence",
        "crc_extension_in_use",
        "StatusMessage",
        "PlusSource",
        "PlusSequence",
        "PlusFrameFields",
        "IgtlSource",
        "IgtlServerSink",
        "TRANSFORM_NAMES",
        "DEFAULT_IGTL_PORT",
        "BatchStage",
        "Cine",
        "CineSource",
        "DEFAULT_MAX_PAYLOAD_BYTES",
        "DROP_KINDS",
        "DTYPES",
        "DropCounter",
        "Endpoint",
        "Frame",
        "FramePacer",
        "Geometry",
        "GeometryKind",
        "IterableSource",
        "JsonLinesSink",
        "LatestFrameSource",
        "MAX_DIM",
        "MAX_HEADER_BYTES",
        "MAX_STREAM_ID_CHARS",
        "Modality",
        "PAYLOAD_ALIGN",
        "PacedSource",
        "PathStats",
        "Pipeline",
        "RECORDING_FORMAT_VERSION",
        "RecordedMessage",
        "RecordingReader",
        "RecordingSink",
        "RecordingSource",
        "RecordingWriter",
        "ResourceUri",
        "SHM_DEFAULT_SLOTS",
        "SHM_DIR",
        "ShmFollower",
        "ShmReader",
        "ShmRingWriter",
        "Sink",
        "Source",
        "Stage",
        "WIRE_VERSION",
        "WireError",
        "ZmqFrameSender",
        "ZmqFrameSource",
        "ZmqJsonSender",
        "decode",
        "decode_shm_slot",
        "default_pattern",
        "encode",
        "encode_header",
        "futex_available",
        "generate_keypair",
        "install_stop_signals",
        "make_frame",
        "open_sink",
        "open_source",
        "parse_endpoint",
        "parse_header",
        "parse_uri",
        "read_cine",
        "png_frame_paths",
        "read_png_folder",
        "register_sink",
        "register_source",
        "shm_available",
        "write_feedback_item",
        "write_us_cine",
    ),
    "orstream.kernels": (
        "FEEDBACK_FORMAT",
        "FEEDBACK_VERSION",
        "FeedbackError",
        "FeedbackItem",
        "FeedbackSet",
        "FeedbackTuneConfig",
        "feedback_pairs",
        "finetune_segmentation",
        "mask_to_model_input",
        "read_feedback",
        "CONFIDENCE_CUES",
        "CONFIDENCE_METHOD",
        "auroc",
        "class_probabilities",
        "confidence_cues",
        "confidence_report",
        "image_confidence",
        "segment_images_by_class",
        "segment_images_scored",
        "shape_score",
        "structure_confidence",
        "LV_CHECKS",
        "NEEDLE_CHECKS",
        "Plausibility",
        "lv_plausibility",
        "lv_shape_figures",
        "needle_plausibility",
        "needle_shape_figures",
        "BACKENDS",
        "Backend",
        "BeatMeasurement",
        "ClipMeasurement",
        "CycleEvents",
        "DETECT_PROB",
        "EpochRecord",
        "FrameMeasurement",
        "IntensityJitter",
        "DISC_METHOD",
        "LVLandmarks",
        "LiveBeat",
        "LiveBeatAccumulator",
        "LiveEchoSummary",
        "MODELS_DIR",
        "ModelSpec",
        "NeedleDetection",
        "OnnxRuntimeBackend",
        "PUBLIC_API",
        "Progress",
        "RoiTipTracker",
        "SectorMap",
        "SegRecipe",
        "SegTask",
        "SegTrainConfig",
        "TipEstimate",
        "TipTracker",
        "TrackerConfig",
        "TrainOptions",
        "TrainResult",
        "TrainingData",
        "argmax_labels",
        "available_backends",
        "available_models",
        "batches",
        "beats",
        "build_network",
        "contours",
        "cpu_graph",
        "crop",
        "detect_ed_es",
        "detect_needles",
        "drop_specks",
        "dice_scores",
        "dominant_period_frames",
        "engine_path",
        "eval_backend",
        "eval_report_header",
        "export_onnx",
        "fit_and_export",
        "fixed_batches",
        "frames_per_second",
        "gaussian_smooth",
        "heatmap_target",
        "image_to_input_px",
        "input_to_image_px",
        "jitter_intensity",
        "largest_component",
        "letterbox",
        "load_backend",
        "load_model",
        "lv_area_mm2",
        "lv_landmarks",
        "lv_volume_area_length_ml",
        "lv_volume_discs_ml",
        "mask_confidence",
        "mask_dice",
        "match_library",
        "max_probability",
        "clip_beats",
        "mean_ef",
        "measure_clip",
        "measure_frame",
        "nearest_distance_mm",
        "normalize",
        "normalize_for_model",
        "p99_normalization",
        "prefetch",
        "random_blur",
        "random_noise",
        "resize",
        "resize_array_api",
        "scalar_prelu_as_leaky_relu",
        "scan_convert",
        "scanner_border",
        "sector_lookup",
        "segment",
        "segment_frames_per_second",
        "segment_images",
        "segment_on_device",
        "select_backend",
        "sha256_file",
        "softmax",
        "subpixel_peak",
        "summarize_clip",
        "summary_stats",
        "tensorrt_usable",
        "threshold",
        "tip_candidates",
        "tip_confidence_report",
        "tip_from_heatmap",
        "to_cupy",
        "to_grey",
        "to_model_input",
        "to_numpy",
        "train_segmentation",
        "unet",
        "warmup_cosine",
        "warp_pair",
        "window_beats",
        "write_sidecar",
    ),
    "orstream.sim": (
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
        "LOW_DOSE_RANGE",
        "HELD_OUT_PHANTOM_SEED",
        "HELD_OUT_TREE_SEED",
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
        "NavFluoroRenderer",
        "NavRoadmap",
        "NavTree",
        "NeedleSet",
        "PanelCase",
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
        "MaskNoise",
        "ProbeView",
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
        "false_needle_cases",
        "evaluate_folder",
        "find_usgra",
        "flip_needle",
        "fluoro_frame_indices",
        "fluoro_frame_views",
        "fluoro_run",
        "low_dose_for",
        "fluoro_subcrop",
        "fluoro_tip_confidence",
        "fluoro_worst_cases",
        "fluoro_view",
        "load_camus",
        "load_centerline_tree",
        "load_real_centerlines",
        "load_usgra",
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
        "score_echo",
        "score_needle",
        "save_panel",
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
    ),
    "orstream.policies": (
        "CONTROL_OPS",
        "GATE_PRESETS",
        "NAV_ALGOS",
        "NAV_DEMO_EXPERTS",
        "NAV_METRICS",
        "NAV_POLICY_NAMES",
        "PROBE_CONTROL_HZ",
        "PROBE_METRICS",
        "SETTINGS_VERSION",
        "SHIPPED_POLICIES",
        "AxisClip",
        "AxisLimits",
        "FollowTargetGuidance",
        "GateCommand",
        "GateDecision",
        "GateEvent",
        "GateReason",
        "GateReasonCode",
        "GateSettings",
        "GateSettingsError",
        "GateState",
        "GateSubscriber",
        "GateTransition",
        "Guidance",
        "GuidanceLoop",
        "GuidanceNote",
        "GuidanceObservation",
        "GuidanceProposal",
        "GuidanceResult",
        "NavEpisode",
        "NavPolicy",
        "NavPolicyGuidance",
        "NavTrainConfig",
        "OnnxPolicy",
        "PerceivedTip",
        "ProbeOracle",
        "ProbePerception",
        "ProbeEpisode",
        "ProbeServoModel",
        "RandomNavPolicy",
        "RandomProbePolicy",
        "SafetyGate",
        "ScriptedNavPolicy",
        "ScriptedProbePolicy",
        "bootstrap_interval",
        "calibrate_probe_servo",
        "evaluate_nav",
        "evaluate_nav_policy",
        "evaluate_probe_policy",
        "gate_speed_scale",
        "latest_checkpoint",
        "load_gate_settings",
        "load_nav_config",
        "paired_difference",
        "parse_gate_settings",
        "policy_from_spec",
        "run_nav_episode",
        "run_probe_episode",
        "shipped_policy_path",
        "summarize_nav",
        "summarize_probe",
        "train_nav_policy",
        "transition_fields",
        "unit_key",
    ),
    "orstream.pipelines": (
        "DEFAULT_CONTROL_ENDPOINT",
        "DEFAULT_ROBOT_ENDPOINT",
        "ECHO_MODEL",
        "FEEDBACK_AUGMENT",
        "GUIDANCES",
        "PIPELINES",
        "REPLAY_FRAMES",
        "ClosedLoopRun",
        "EchoMeasureStage",
        "EchoSegmentStage",
        "Engine",
        "FluoroTrackStage",
        "GuidanceStage",
        "InputFrame",
        "InputReader",
        "LiveBeatsResult",
        "LivePipeline",
        "MaskSummary",
        "PipelineSummary",
        "RobotLink",
        "SegmentationResult",
        "TipResult",
        "TipStats",
        "UltrasoundResult",
        "UltrasoundStage",
        "check_target",
        "default_workers",
        "echo_document",
        "ef_category",
        "finetune_from_feedback",
        "load_clip",
        "make_pipeline",
        "measure_echo_clip",
        "read_source",
        "require_highdicom",
        "run_closed_loop",
        "run_demo",
        "segment_input",
        "tip_result",
        "track_clip",
        "write_report",
        "write_sr",
    ),
}
SOURCE_DIRS = ("orstream", "stream", "kernels", "sim", "policies", "bench")
"""Folders of the installed package (orstream/ links the others in as orstream.stream, ...)."""


def _package_of(path: Path) -> str:
    """The dotted package of a file of tests/ or bench/ (bench installs as orstream.bench)."""
    parts = path.relative_to(ROOT).parent.parts
    return ".".join(("orstream", *parts) if parts[0] == "bench" else parts)


def _is_private(component: str) -> bool:
    return component.startswith("_") and not (
        component.startswith("__") and component.endswith("__")
    )


def _imports(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in ``tree``, relative ones resolved from ``package``;
    ``from A import b`` gives ``A.b`` (a submodule or a name of A: both count)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in IMPORT_CALLS and isinstance(first, ast.Constant):
                found.append((node.lineno, str(first.value)))
    return found


def _violation(target: str, package: str) -> str | None:
    """Why importing ``target`` from ``package`` breaks the rules, or None."""
    if not target.startswith("orstream."):
        return None
    if target == CLI or target.startswith(CLI + "."):
        return "imports the CLI (run `python -m orstream`: tests._helpers.orstream_main)"
    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if _is_private(parts[i]):
            owner = ".".join(parts[:i])
            if package != owner and not package.startswith(owner + "."):
                return f"imports a private name of {owner} (export it in its __all__)"
            return None
    return None


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize(
    "path", _files("tests") + _files("bench"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_tests_and_bench_import_public_names_only(path: Path) -> None:
    package = _package_of(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {target}: {why}"
        for line, target in _imports(tree, package)
        if (why := _violation(target, package)) is not None
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", sorted(PUBLIC_NAMES))
def test_public_names_are_pinned_and_exist(package: str) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{package} has no __all__"
    assert len(set(names)) == len(names), f"{package}.__all__ repeats a name"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"
    added, removed = (
        sorted(set(names) - set(PUBLIC_NAMES[package])),
        sorted(set(PUBLIC_NAMES[package]) - set(names)),
    )
    assert not added and not removed, (
        f"{package}.__all__ changed: added {added}, removed {removed}; "
        "if deliberate, update PUBLIC_NAMES in tests/test_architecture.py"
    )


def _modules() -> list[Path]:
    seen: dict[Path, Path] = {}
    for folder in SOURCE_DIRS:
        for path in _files(folder):
            seen.setdefault(path.resolve(), path)
    return sorted(seen.values())


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_under_the_line_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it by idea"
