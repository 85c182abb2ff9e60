"""The ``orstream`` command line: one subcommand per module, each with ``register``.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func(args) -> int`` as the default. Bad command-line input ends in one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ._errors import UsageError, missing_package_error

COMMAND_MODULES = (
    "orstream.cli._demo",
    "orstream.cli._run",
    "orstream.cli._record",
    "orstream.cli._replay",
    "orstream.cli._sim",
    "orstream.cli._measure",
    "orstream.cli._segment",
    "orstream.cli._track",
    "orstream.cli._train",
    "orstream.cli._bench",
    "orstream.cli._keys",
    "orstream.cli._doctor",
)


class _OneLineParser(argparse.ArgumentParser):
    """Reports bad arguments as one line (and the hint to ask for --help), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="orstream", description="Real-time imaging engine for the OR and the echo lab."
    )
    parser.add_argument("--version", action="version", version=f"orstream {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.func(args)
    except (UsageError, ValueError, OSError) as exc:
        if args.verbose:
            raise
        print(f"orstream {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional package (torch, highdicom) is missing
        if args.verbose:
            raise
        print(f"orstream {args.command}: error: {missing_package_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
