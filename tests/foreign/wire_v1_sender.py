"""A wire-v1 sender written from docs/wire-protocol.md alone: pyzmq, json and numpy, nothing
of orstream. It sends a mix of frames (uint8, uint16, RGB, float32, with spacing, geometry and
meta) and writes a manifest of what it sent: the header bytes and a SHA-256 of each payload.

    python wire_v1_sender.py --connect tcp://127.0.0.1:5555 --frames 40 --manifest sent.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import numpy as np
import zmq

KINDS = [
    ("us", "uint8", (480, 640), {"kind": "linear", "width_mm": 38.4, "depth_mm": 60.0}),
    ("fluoro", "uint16", (512, 512), {"kind": "projection", "sid_mm": 1100.0}),
    ("echo", "uint8", (240, 320, 3), {"kind": "sector", "apex_px": [0, 160], "angle_deg": 75}),
    ("other", "float32", (64, 96), None),
]


def frame(seq: int, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """Header bytes (section 3) and a little-endian C-contiguous payload (section 4)."""
    modality, dtype, shape, geometry = KINDS[seq % len(KINDS)]
    if dtype == "float32":
        pixels = rng.standard_normal(shape).astype("<f4")
    else:
        pixels = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(
            np.dtype(dtype).newbyteorder("<")
        )
    header: dict[str, object] = {
        "v": 1,
        "stream": f"foreign-{modality}",
        "seq": seq,
        "t_capture_ns": time.time_ns(),
        "modality": modality,
        "dtype": dtype,
        "shape": list(shape),
        "spacing_mm": [0.2, 0.25] if modality != "other" else None,
    }
    if geometry is not None:
        header["geometry"] = geometry
    header["meta"] = {"device": "foreign sender", "frame": seq}
    return json.dumps(header).encode("utf-8"), np.ascontiguousarray(pixels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect", required=True, help="tcp://HOST:PORT of a bound PULL")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--manifest", required=True)
    args = parser.parse_args()
    context = zmq.Context()
    sock = context.socket(zmq.PUSH)  # lossless (section 2)
    sock.linger = 10_000
    sock.connect(args.connect)
    rng = np.random.default_rng(7)
    sent = []
    for seq in range(args.frames):
        header, pixels = frame(seq, rng)
        sock.send_multipart([header, pixels], copy=False)
        sent.append(
            {
                "header": header.decode("utf-8"),
                "sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
            }
        )
        time.sleep(0.005)
    sock.close()
    context.term()
    with open(args.manifest, "w", encoding="utf-8") as f:
        json.dump(sent, f)


if __name__ == "__main__":
    main()
