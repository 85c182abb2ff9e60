"""``orstream demo``: the main job on the built-in simulator (see ``orstream.pipelines.run_demo``).

The engine prints its status line; at the end (``--duration`` or Ctrl-C) one summary.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..pipelines import run_demo
from ..sim import MODALITIES
from ._argtypes import positive_float


def run(args: argparse.Namespace) -> int:
    summary, interrupted = run_demo(
        args.modality,
        duration_s=args.duration,
        fps=args.fps,
        seed=args.seed,
        show=not args.headless,
        display=None if args.no_display else args.display,
        robot=False if args.no_robot else None,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print(summary)
    return 130 if interrupted else 0


def _print(s: dict[str, Any]) -> None:
    f, lat = s["frames"], s["latency_ms"]
    print(
        f"{s['modality']}: sent {f['sent']}, received {f['received']}, processed "
        f"{f['processed']}, recorded {f['recorded']} frames; engine {s['fps']['engine']} fps "
        f"(target {s['fps']['target']}); capture-to-result latency p50 {lat['p50']} ms, "
        f"p99 {lat['p99']} ms; live drops {s['drops']['live']}, gaps {s['drops']['gaps']}"
    )
    if "ef" in s:
        ef, hr = s["ef"], s["heart_rate_bpm"]
        print(
            f"measured: EF {'-' if ef is None else f'{ef:.3f}'}, heart rate "
            f"{'-' if hr is None else f'{hr:.1f}'} bpm over {len(s['beats'])} beats"
        )
    if "measurements" in s:
        m = s["measurements"]
        print(
            f"measured: tip found in {m['tip_found']} of {m['frames']} frames, mean "
            f"confidence {m['mean_confidence']}"
        )
    if "closed_loop" in s:
        c = s["closed_loop"]
        gate = c["gate"] or {}
        reached = (
            f"reached its target in {c['reached_at_s']:.1f} s"
            if c["reached"]
            else f"did not reach its target (closest {c['closest_mm']} mm)"
        )
        print(
            f"closed loop: the policy {reached}, {c['start_error_mm']} mm along the vessels "
            f"from the start; final error {c['final_error_mm']} mm; gate "
            f"{gate.get('state', '-')}, robot halts {len(c['robot_halts'])}"
        )
    if s["truth"]:
        print("simulator truth: " + ", ".join(f"{k} {v:.3g}" for k, v in s["truth"].items()))
    print(f"recording: {s['recording']}")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="the main job on the built-in simulator (device, engine, recorder)"
    )
    parser.add_argument("--modality", choices=MODALITIES, default="echo")
    parser.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds")
    parser.add_argument("--headless", action="store_true", help="no live status line")
    parser.add_argument("--json", action="store_true", help="summary as one JSON document")
    parser.add_argument(
        "--fps", type=positive_float, help="device frame rate (default: the modality's)"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument(
        "--display",
        default="auto",
        metavar="HOST:PORT",
        help="where the OR display listens (default: 127.0.0.1:8080, or a free port when it is "
        "taken); its link with the access token is printed on stderr",
    )
    parser.add_argument("--no-display", action="store_true", help="no OR display")
    parser.add_argument(
        "--no-robot",
        action="store_true",
        help="fluoro: no closed loop (by default a simulated robot moves the catheter as the "
        "shipped policy steers it through the safety gate)",
    )
    parser.set_defaults(func=run)
