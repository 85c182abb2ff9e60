"""Frames, wire protocol v1, the source/sink URI registry, transports (ZeroMQ, recordings,
DICOM and PNG cines played live), the newest-frame wrapper, the pipeline runtime and sinks.

Importing this package registers its schemes: ``open_source`` takes ``zmq+tcp://``,
``zmq+ipc://`` (and ``tcp://``, ``ipc://``), ``file:``/``orsrec:`` (recordings), ``dicom:``,
``png:``, ``plus:`` (PLUS sequence files) and ``igtl://`` (OpenIGTLink),
``webrtc://`` (WebRTC video); ``open_sink`` takes
``file:``/``orsrec:``, ``jsonl:``, ``igtl+server://`` (an OpenIGTLink server) and
``display://`` (the OR display in the browser; aiohttp and aiortc load when one opens).
Imports nothing else of the project (see docs/architecture.md).
"""

from ._cine_source import CineSource
from ._curve import generate_keypair
from ._dicom import Cine, png_frame_paths, read_cine, read_png_folder
from ._dicom_write import write_us_cine
from ._display_hub import DisplayHub
from ._display_scheme import display_uri, open_display_sink
from ._display_telemetry import frame_telemetry, mask_contours, video_pts
from ._drops import DropCounter
from ._endpoint import Endpoint, parse_endpoint
from ._feedback_store import write_feedback_item
from ._frame import Frame, Geometry, GeometryKind, Modality, make_frame
from ._futex import futex_available
from ._igtl_codec import DEFAULT_IGTL_PORT, StatusMessage, crc_extension_in_use
from ._igtl_feed import TRANSFORM_NAMES
from ._igtl_replay import serve_igtl, serve_plus_igtl
from ._igtl_server import IgtlServerSink
from ._igtl_source import IgtlSource
from ._jsonl import JsonLinesSink
from ._latest import LatestFrameSource
from ._paced import PacedSource
from ._pacing import FramePacer
from ._patterns import default_pattern
from ._pipeline import Pipeline, install_stop_signals
from ._plus_mha import PlusFrameFields, PlusSequence, read_plus_sequence
from ._plus_source import PlusSource
from ._protocols import BatchStage, IterableSource, Sink, Source, Stage
from ._recording import (
    PAYLOAD_ALIGN,
    RECORDING_FORMAT_VERSION,
    RecordedMessage,
    RecordingReader,
    RecordingWriter,
)
from ._recording_sink import RecordingSink, RecordingSource
from ._registry import (
    ResourceUri,
    open_sink,
    open_source,
    parse_uri,
    register_sink,
    register_source,
)
from ._robot_control import MAX_REQUEST_BYTES as ROBOT_CONTROL_MAX_BYTES
from ._robot_control import JsonControlServer, control_request
from ._robot_feed import (
    DEFAULT_HEARTBEAT_HZ,
    FEED_KINDS,
    FEED_VERSION,
    RobotFeedReceiver,
    RobotFeedSink,
    bound_endpoint,
)
from ._shm import DEFAULT_SLOTS as SHM_DEFAULT_SLOTS
from ._shm import SHM_DIR, ShmFollower, ShmReader, ShmRingWriter, shm_available
from ._stats import PathStats
from ._webrtc_source import WebRtcSource
from ._wire import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DROP_KINDS,
    DTYPES,
    MAX_DIM,
    MAX_HEADER_BYTES,
    MAX_STREAM_ID_CHARS,
    WIRE_VERSION,
    WireError,
    decode,
    decode_shm_slot,
    encode,
    encode_header,
    parse_header,
)
from ._zmq import ZmqFrameSender, ZmqFrameSource, ZmqJsonSender

__all__ = [
    "DEFAULT_HEARTBEAT_HZ",
    "DEFAULT_IGTL_PORT",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DROP_KINDS",
    "DTYPES",
    "FEEDBACK_FORMAT_VERSION",
    "FEED_KINDS",
    "FEED_VERSION",
    "MAX_DIM",
    "MAX_HEADER_BYTES",
    "MAX_STREAM_ID_CHARS",
    "PAYLOAD_ALIGN",
    "RECORDING_FORMAT_VERSION",
    "ROBOT_CONTROL_MAX_BYTES",
    "SHM_DEFAULT_SLOTS",
    "SHM_DIR",
    "TRANSFORM_NAMES",
    "WIRE_VERSION",
    "BatchStage",
    "Cine",
    "CineSource",
    "DisplayHub",
    "DisplaySink",
    "DropCounter",
    "Endpoint",
    "Frame",
    "FramePacer",
    "Geometry",
    "GeometryKind",
    "IgtlServerSink",
    "IgtlSource",
    "IterableSource",
    "JsonControlServer",
    "JsonLinesSink",
    "LatestFrameSource",
    "Modality",
    "NewestFrameTrack",
    "PacedSource",
    "PathStats",
    "Pipeline",
    "PlusFrameFields",
    "PlusSequence",
    "PlusSource",
    "RecordedMessage",
    "RecordingReader",
    "RecordingSink",
    "RecordingSource",
    "RecordingWriter",
    "ResourceUri",
    "RobotFeedReceiver",
    "RobotFeedSink",
    "ShmFollower",
    "ShmReader",
    "ShmRingWriter",
    "Sink",
    "Source",
    "Stage",
    "StatusMessage",
    "WebRtcSource",
    "WireError",
    "ZmqFrameSender",
    "ZmqFrameSource",
    "ZmqJsonSender",
    "bound_endpoint",
    "control_request",
    "crc_extension_in_use",
    "decode",
    "decode_shm_slot",
    "default_pattern",
    "display_uri",
    "encode",
    "encode_header",
    "frame_telemetry",
    "futex_available",
    "generate_keypair",
    "install_stop_signals",
    "make_frame",
    "mask_contours",
    "open_display_sink",
    "open_sink",
    "open_source",
    "parse_endpoint",
    "parse_header",
    "parse_uri",
    "png_frame_paths",
    "read_cine",
    "read_plus_sequence",
    "read_png_folder",
    "register_sink",
    "register_source",
    "serve_igtl",
    "serve_plus_igtl",
    "shm_available",
    "video_pts",
    "write_feedback_item",
    "write_us_cine",
]


def __getattr__(name: str) -> object:
    """The OR display's names, imported on first use (they pull in aiohttp and aiortc)."""
    if name == "DisplaySink":
        from ._display_server import DisplaySink

        return DisplaySink
    if name == "NewestFrameTrack":
        from ._display_track import NewestFrameTrack

        return NewestFrameTrack
    if name == "FEEDBACK_FORMAT_VERSION":
        from ._feedback_store import VERSION

        return VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
