"""Frames, wire protocol v1, ZeroMQ transports, the pipeline runtime and recordings.

Imports nothing else of the project (see ARCHITECTURE.md).
"""

from ._dicom import Cine, read_cine, read_png_folder
from ._drops import DropCounter
from ._endpoint import Endpoint, parse_endpoint
from ._frame import Frame, Geometry, GeometryKind, Modality, make_frame
from ._pipeline import IterableSource, Pipeline, Sink, Source, Stage, install_stop_signals
from ._recording import (
    RECORDING_FORMAT_VERSION,
    RecordedMessage,
    RecordingReader,
    RecordingWriter,
)
from ._recording_sink import RecordingSink, RecordingSource
from ._stats import PathStats
from ._wire import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DROP_KINDS,
    MAX_HEADER_BYTES,
    WIRE_VERSION,
    WireError,
    decode,
    encode,
    encode_header,
)
from ._zmq import LatestFrameSource, ZmqFrameSender, ZmqFrameSource, ZmqJsonSender

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DROP_KINDS",
    "MAX_HEADER_BYTES",
    "RECORDING_FORMAT_VERSION",
    "WIRE_VERSION",
    "Cine",
    "DropCounter",
    "Endpoint",
    "Frame",
    "Geometry",
    "GeometryKind",
    "IterableSource",
    "LatestFrameSource",
    "Modality",
    "PathStats",
    "Pipeline",
    "RecordedMessage",
    "RecordingReader",
    "RecordingSink",
    "RecordingSource",
    "RecordingWriter",
    "Sink",
    "Source",
    "Stage",
    "WireError",
    "ZmqFrameSender",
    "ZmqFrameSource",
    "ZmqJsonSender",
    "decode",
    "encode",
    "encode_header",
    "install_stop_signals",
    "make_frame",
    "parse_endpoint",
    "read_cine",
    "read_png_folder",
]
