"""A wire-v1 sender of PNG frames written from docs/wire-protocol.md alone: pyzmq, json,
numpy and OpenCV (to read the PNGs), nothing of orstream. It pushes each grey frame of a
folder, in name order, at a steady rate, with the pixel spacing and modality given.

    python wire_v1_png_sender.py --connect tcp://127.0.0.1:5555 --frames DIR --fps 10 \
        --spacing-mm 0.1 --modality us
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import zmq


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect", required=True, help="tcp://HOST:PORT of a bound PULL")
    parser.add_argument("--frames", required=True, help="folder of grey PNG frames")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--spacing-mm", type=float, required=True)
    parser.add_argument("--modality", default="us")
    args = parser.parse_args()
    context = zmq.Context()
    sock = context.socket(zmq.PUSH)  # lossless (section 2)
    sock.linger = 10_000
    sock.connect(args.connect)
    for seq, path in enumerate(sorted(Path(args.frames).glob("*.png"))):
        pixels = np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
        header = {
            "v": 1,
            "stream": "foreign-png",
            "seq": seq,
            "t_capture_ns": time.time_ns(),
            "modality": args.modality,
            "dtype": str(pixels.dtype),
            "shape": list(pixels.shape),
            "spacing_mm": [args.spacing_mm, args.spacing_mm],
        }
        sock.send_multipart([json.dumps(header).encode("utf-8"), pixels], copy=False)
        time.sleep(1.0 / args.fps)
    sock.close()
    context.term()


if __name__ == "__main__":
    main()
