"""Frames, wire protocol v1, the source/sink URI registry, transports (ZeroMQ, recordings,
DICOM and PNG cines played live), the newest-frame wrapper, the pipeline runtime and sinks.

Importing this package registers its schemes: ``open_source`` takes ``zmq+tcp://``,
``zmq+ipc://`` (and ``tcp://``, ``ipc://``), ``file:``/``orsrec:`` (recordings), ``dicom:``
and ``png:``; ``open_sink`` takes ``file:``/``orsrec:`` and ``jsonl:``.
Imports nothing else of the project (see docs/architecture.md).
"""

from ._cine_source import CineSource
from ._curve import generate_keypair
from ._dicom import Cine, png_frame_paths, read_cine, read_png_folder
from ._dicom_write import write_us_cine
from ._drops import DropCounter
from ._endpoint import Endpoint, parse_endpoint
from ._frame import Frame, Geometry, GeometryKind, Modality, make_frame
from ._futex import futex_available
from ._jsonl import JsonLinesSink
from ._latest import LatestFrameSource
from ._paced import PacedSource
from ._patterns import default_pattern
from ._pipeline import Pipeline, install_stop_signals
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
from ._shm import DEFAULT_SLOTS as SHM_DEFAULT_SLOTS
from ._shm import SHM_DIR, ShmFollower, ShmReader, ShmRingWriter, shm_available
from ._stats import PathStats
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
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DROP_KINDS",
    "DTYPES",
    "MAX_DIM",
    "MAX_HEADER_BYTES",
    "MAX_STREAM_ID_CHARS",
    "PAYLOAD_ALIGN",
    "RECORDING_FORMAT_VERSION",
    "SHM_DEFAULT_SLOTS",
    "SHM_DIR",
    "WIRE_VERSION",
    "BatchStage",
    "Cine",
    "CineSource",
    "DropCounter",
    "Endpoint",
    "Frame",
    "Geometry",
    "GeometryKind",
    "IterableSource",
    "JsonLinesSink",
    "LatestFrameSource",
    "Modality",
    "PacedSource",
    "PathStats",
    "Pipeline",
    "RecordedMessage",
    "RecordingReader",
    "RecordingSink",
    "RecordingSource",
    "RecordingWriter",
    "ResourceUri",
    "ShmFollower",
    "ShmReader",
    "ShmRingWriter",
    "Sink",
    "Source",
    "Stage",
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
    "png_frame_paths",
    "read_cine",
    "read_png_folder",
    "register_sink",
    "register_source",
    "shm_available",
    "write_us_cine",
]
