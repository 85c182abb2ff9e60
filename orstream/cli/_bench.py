"""``orstream bench SUBCOMMAND [--json] [--quick] [--duration S]``: side-by-side figures.

Each benchmark is a module ``orstream.bench.<name>`` with ``run(duration_s=, quick=,
progress=) -> dict`` and ``render(report) -> str``; adding one is one line in
:data:`BENCHMARKS`. The module is imported only when its subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from ..bench import BENCHMARKS


def register(subparsers: Any) -> None:
    """Add ``bench`` and one subcommand per entry of :data:`BENCHMARKS`."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmarks against the peers a user would pick instead",
        description="Benchmarks: our figures and the same figures for the named peer, one run.",
    )
    benches = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, help_text in BENCHMARKS.items():
        sub = benches.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        sub.add_argument("--quick", action="store_true", help="short measurements (a smoke test)")
        sub.add_argument(
            "--duration",
            type=_positive_seconds,
            default=None,
            metavar="S",
            help="length of each measurement in seconds (default: the benchmark's own)",
        )
        if name == "all":
            sub.add_argument(
                "--out",
                default=None,
                metavar="DIR",
                help="where the reports go (default docs/benchmarks; docs/benchmarks/quick"
                " with --quick)",
            )
        sub.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Run ``args.benchmark`` and print its report; 1 when a measurement of ours failed."""
    module = importlib.import_module(f"orstream.bench.{args.benchmark}")
    options = {"out_dir": args.out} if getattr(args, "out", None) is not None else {}
    report: dict[str, Any] = module.run(
        duration_s=args.duration, quick=args.quick, progress=_progress, **options
    )
    report = {"command": _command_line(args), **report}
    if args.json:
        json.dump(report, sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(module.render(report))
    return 1 if report.get("errors") else 0


def _command_line(args: argparse.Namespace) -> str:
    flags = [f for f, on in (("--json", args.json), ("--quick", args.quick)) if on]
    if args.duration is not None:
        flags.append(f"--duration {args.duration:g}")
    if getattr(args, "out", None) is not None:
        flags.append(f"--out {args.out}")
    return " ".join(["orstream bench", args.benchmark, *flags])


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"duration must be in (0, 3600] s, got {text}")
    return value
