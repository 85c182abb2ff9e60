"""``orstream keys generate``: a CURVE key pair for encrypted ZeroMQ feeds.

Writes ``NAME.key`` (public: give it to the peers) and ``NAME.key_secret`` (secret: keep it on
this machine, mode 0600) in ZeroMQ's certificate format. The bound side of a feed is the CURVE
server (``?curve_secret=server.key_secret&curve_allow=DIR``, DIR holding the clients' ``.key``
files); a connecting side is a client (``?curve_secret=client.key_secret&curve_server=
server.key``). See ``docs/wire-protocol.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..stream import generate_keypair
from ._errors import UsageError


def run(args: argparse.Namespace) -> int:
    """Generate one key pair; refuses (UsageError, one line) to overwrite a secret key."""
    out_dir: Path = args.out
    name: str = args.name
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise UsageError(f"--name {name!r} must be a plain file name, not a path")
    secret = out_dir / f"{name}.key_secret"
    if secret.exists():
        raise UsageError(
            f"{secret} exists; refusing to overwrite a secret key "
            "(delete it first or pick another --name)"
        )
    try:
        public_path, secret_path = generate_keypair(out_dir, name)
    except RuntimeError as exc:  # a libzmq built without CURVE
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps({"public": str(public_path), "secret": str(secret_path)}))
    else:
        print(f"public key: {public_path}  (give this file to peers)")
        print(f"secret key: {secret_path}  (keep it private, never share it)")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="CURVE keys for encrypted ZeroMQ feeds")
    actions = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    generate = actions.add_parser(
        "generate", help="write NAME.key (public) and NAME.key_secret (secret) into DIR"
    )
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    generate.add_argument(
        "--name", default="orstream", help="key file base name (default: orstream)"
    )
    generate.add_argument("--json", action="store_true", help="one JSON document on stdout")
    generate.set_defaults(func=run)
