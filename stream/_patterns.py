"""Which ZeroMQ pattern a feed uses when its URI does not name one: it follows from who binds.

A bound sender publishes and a connecting receiver subscribes (a device and its listeners, live:
PUB/SUB); a connecting sender pushes to a bound receiver that pulls (lossless delivery to a
collector: PUSH/PULL). So any two peers meet when exactly one of them binds, without either
naming a pattern. A ``?pattern=`` in the URI always wins.
"""

from __future__ import annotations

from ._endpoint import parse_endpoint


def default_pattern(uri: str, *, sending: bool) -> str:
    """The ZeroMQ pattern for ``uri`` on the sending (``sending=True``) or receiving side: its
    ``?pattern=`` if it names one, else ``"pub"``/``"sub"`` when the sender binds and
    ``"push"``/``"pull"`` when the receiver binds (ValueError, one line, for a bad URI).

    A named pattern is returned as given, even one that does not fit the side (the socket
    that opens it refuses it)."""
    endpoint = parse_endpoint(uri)
    if endpoint.pattern is not None:
        return endpoint.pattern
    if sending:
        return "pub" if endpoint.bind else "push"
    return "pull" if endpoint.bind else "sub"
