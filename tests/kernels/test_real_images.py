"""Real ultrasound images (usgra-seg, CC-BY 4.0) through the wire, a lossless pipeline with a
lossless recording, and back from the file: bit-exact."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from orstream.stream import (
    Pipeline,
    RecordingReader,
    RecordingSink,
    ZmqFrameSender,
    ZmqFrameSource,
    make_frame,
)


def test_real_ultrasound_images_record_bit_exact(real_data: Path, tmp_path: Path) -> None:
    paths = sorted((real_data / "usgra-seg" / "train" / "images").glob("*.png"))[:24]
    assert len(paths) == 24
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    assert all(img is not None and img.shape == (512, 512) for img in images)
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="pull")
    sender = ZmqFrameSender("zmq+" + source.last_endpoint, pattern="push")
    recording = tmp_path / "usgra.orsrec"
    pipeline = Pipeline(source, recorder=RecordingSink(recording), live=False)
    for seq, image in enumerate(images):
        sender.send(make_frame(image, "usgra", seq, modality="us", spacing_mm=(0.08, 0.08)))
    summary = pipeline.run(max_frames=len(images), duration_s=20)
    sender.close()
    assert summary["paths"]["record"]["frames"] == len(images)
    with RecordingReader(recording) as reader:
        frames = list(reader)
    assert [f.seq for f in frames] == list(range(len(images)))
    assert all(np.array_equal(f.pixels, img) for f, img in zip(frames, images, strict=True))
    assert all(f.spacing_mm == (0.08, 0.08) and f.modality == "us" for f in frames)
