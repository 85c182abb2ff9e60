"""ZeroMQ endpoint URIs: ``zmq+tcp://HOST:PORT`` and ``zmq+ipc://PATH`` with options.

Host ``*`` binds (all interfaces), any other host connects; ``?bind=1`` binds a named
interface (``zmq+tcp://127.0.0.1:5555?bind=1``) and ``?bind=0`` forces a connect. For ipc the
default is to connect. Other query keys: ``pattern`` (pub, sub, push, pull), ``curve_secret``
(this side's secret key file), ``curve_server`` (the bound side's public key file, on a
connecting side), ``curve_allow`` (on a bound side: a folder of allowed client public keys, or
``any``), ``shm`` (``1``: a live PUB sender on a loopback or ipc endpoint passes payloads through
shared memory, see ``stream/_shm.py``). The ``zmq+`` prefix is optional.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PATTERNS = ("pub", "sub", "push", "pull")
ZMQ_SCHEMES = ("zmq+tcp", "zmq+ipc", "tcp", "ipc")
"""URI schemes of ZeroMQ endpoints (what :func:`parse_endpoint` takes)."""
_QUERY_KEYS = {"bind", "pattern", "curve_secret", "curve_server", "curve_allow", "shm"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed endpoint: ``address`` is what libzmq takes (``tcp://127.0.0.1:5555``)."""

    address: str
    bind: bool
    pattern: str | None = None
    curve_secret: Path | None = None
    curve_server: Path | None = None
    curve_allow: str | None = None
    shm: bool = False

    @property
    def is_loopback_or_ipc(self) -> bool:
        """True when the feed cannot leave the machine."""
        if self.address.startswith("ipc://"):
            return True
        host = self.address[len("tcp://") :].rsplit(":", 1)[0]
        return host in ("127.0.0.1", "localhost", "[::1]", "::1")


def parse_endpoint(uri: str) -> Endpoint:
    """Parse an endpoint URI; raises ValueError with a one-line reason."""
    parts = urlsplit(uri)
    scheme = parts.scheme.removeprefix("zmq+")
    if scheme not in ("tcp", "ipc"):
        raise ValueError(f"endpoint {uri!r}: scheme must be zmq+tcp:// or zmq+ipc://")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - _QUERY_KEYS
    if unknown:
        raise ValueError(f"endpoint {uri!r}: unknown option(s) {sorted(unknown)}")
    if scheme == "tcp":
        host, _, port_text = parts.netloc.rpartition(":")
        if parts.path not in ("", "/"):
            raise ValueError(f"endpoint {uri!r}: a tcp endpoint has no path after the port")
        if not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
            raise ValueError(f"endpoint {uri!r}: expected zmq+tcp://HOST:PORT with PORT 0-65535")
        address = f"tcp://{host}:{int(port_text)}"
        default_bind = host == "*"
    else:
        path = parts.netloc + parts.path
        if not path:
            raise ValueError(f"endpoint {uri!r}: expected zmq+ipc://PATH")
        address = f"ipc://{path}"
        default_bind = False
    bind_text = query.get("bind")
    if bind_text not in (None, "0", "1", "true", "false"):
        raise ValueError(f"endpoint {uri!r}: bind must be 0 or 1")
    bind = default_bind if bind_text is None else bind_text in ("1", "true")
    if query.get("shm") not in (None, "0", "1", "true", "false"):
        raise ValueError(f"endpoint {uri!r}: shm must be 0 or 1")
    pattern = query.get("pattern")
    if pattern is not None and pattern not in PATTERNS:
        raise ValueError(f"endpoint {uri!r}: pattern must be one of {', '.join(PATTERNS)}")
    return Endpoint(
        address=address,
        bind=bind,
        pattern=pattern,
        curve_secret=Path(query["curve_secret"]) if query.get("curve_secret") else None,
        curve_server=Path(query["curve_server"]) if query.get("curve_server") else None,
        curve_allow=query.get("curve_allow") or None,
        shm=query.get("shm") in ("1", "true"),
    )
