"""ZeroMQ CURVE encryption and client allow-lists from key files (``orstream keys generate``).

The side that binds is the CURVE server: it holds a secret key file and admits the clients
whose public keys lie in an allow-list folder (or any client, with ``curve_allow=any``). The
side that connects is a client: it needs the server's public key file and its own secret key
file. Key files are ZeroMQ's certificate format (``zmq.auth``): ``NAME.key`` (public) and
``NAME.key_secret`` (secret; never share it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from ._endpoint import Endpoint

_log = logging.getLogger("orstream.stream")


def generate_keypair(out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` and ``NAME.key_secret`` into ``out_dir``; returns both paths."""
    if not zmq.has("curve"):
        raise RuntimeError("this libzmq has no CURVE support; reinstall pyzmq from its wheels")
    out_dir.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(out_dir), name)
    Path(secret).chmod(0o600)
    return Path(public), Path(secret)


def _load(path: Path, want_secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read CURVE key file {path}: {exc}") from None
    if want_secret and secret is None:
        raise ValueError(f"{path} holds no secret key (use the NAME.key_secret file)")
    return public, secret


def apply_curve(
    socket: zmq.Socket[bytes], endpoint: Endpoint, context: zmq.Context[zmq.Socket[bytes]]
) -> ThreadAuthenticator | None:
    """Configure CURVE on ``socket`` from ``endpoint``'s options, before bind/connect.

    Returns the authenticator thread a bound side starts (stop it on close), else None.
    Warns when a bound TCP feed leaves the machine without encryption.
    """
    if endpoint.bind:
        if endpoint.curve_server is not None:
            raise ValueError(f"{endpoint.address}: curve_server is for the connecting side")
        if endpoint.curve_secret is None:
            if endpoint.curve_allow is not None:
                raise ValueError(f"{endpoint.address}: curve_allow needs curve_secret")
            if not endpoint.is_loopback_or_ipc:
                _log.warning(
                    "%s is bound beyond this machine without CURVE encryption; "
                    "add ?curve_secret=server.key_secret&curve_allow=DIR",
                    endpoint.address,
                )
            return None
        public, secret = _load(endpoint.curve_secret, want_secret=True)
        if endpoint.curve_allow is None:
            raise ValueError(
                f"{endpoint.address}: CURVE server needs curve_allow=DIR of client public keys "
                "(or curve_allow=any)"
            )
        auth = ThreadAuthenticator(context)
        auth.start()
        if endpoint.curve_allow == "any":
            auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        else:
            allow = Path(endpoint.curve_allow)
            if not allow.is_dir():
                auth.stop()
                raise ValueError(f"curve_allow={allow} is not a folder of client public keys")
            auth.configure_curve(domain="*", location=str(allow))
        socket.curve_secretkey = secret
        socket.curve_publickey = public
        socket.curve_server = True
        return auth
    if endpoint.curve_allow is not None:
        raise ValueError(f"{endpoint.address}: curve_allow is for the bound side")
    if endpoint.curve_server is None:
        if endpoint.curve_secret is not None:
            raise ValueError(
                f"{endpoint.address}: curve_secret on a connecting side needs curve_server "
                "(the bound side's public key file); without it the feed would be plaintext"
            )
        return None
    server_public, _ = _load(endpoint.curve_server, want_secret=False)
    if endpoint.curve_secret is not None:
        public, secret = _load(endpoint.curve_secret, want_secret=True)
    else:
        public, secret = zmq.curve_keypair()
    socket.curve_serverkey = server_public
    socket.curve_publickey = public
    socket.curve_secretkey = secret
    return None
