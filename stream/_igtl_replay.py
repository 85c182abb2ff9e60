"""Serve any live source over OpenIGTLink at its own timing: what ``orstream replay
FILE.igs.mha --igtl PORT`` runs (a PLUS sequence: IMAGE plus its transforms, per frame, at the
recorded timing), so the Slicer workflow can be tried without a device."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ._igtl_server import IgtlServerSink, open_igtl_server
from ._plus_source import open_plus
from ._protocols import Source
from ._registry import parse_uri


def serve_igtl(
    source: Source,
    server: IgtlServerSink,
    stop: threading.Event,
    *,
    wait_for_client: bool = True,
    on_waiting: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Send every frame of ``source`` to ``server``'s clients until the source is exhausted
    or ``stop`` is set; with ``wait_for_client``, start (the source's clock too) only once a
    client connected, calling ``on_waiting`` once if none has yet. Returns frames sent,
    seconds, the server's and the source's counters; closes neither."""
    if wait_for_client and server.clients == 0:
        if on_waiting is not None:
            on_waiting()
        while server.clients == 0 and not stop.wait(0.05):
            pass
    start = time.monotonic()
    frames = 0
    while not stop.is_set():
        frame = source.recv(timeout_s=0.2)
        if frame is None:
            if getattr(source, "exhausted", False):
                break
            continue
        server.write(frame)
        frames += 1
    return {
        "frames": frames,
        "seconds": round(time.monotonic() - start, 3),
        "server": server.stats(),
        "source": source.stats(),
    }


def serve_plus_igtl(
    path: str,
    address: str = "18944",
    *,
    loop: bool = False,
    stop: threading.Event,
    on_waiting: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Serve the PLUS sequence at ``path`` over OpenIGTLink on ``address`` (``[HOST:]PORT``,
    host 127.0.0.1 by default) at its recorded timing, once a client connected
    (``on_waiting(HOST:PORT)`` is called while none has); ``loop``: forever, until ``stop``.
    ValueError (one line) for a bad file or a port that is taken. The summary of
    :func:`serve_igtl` plus ``path`` and ``igtl`` (HOST:PORT)."""
    source = open_plus(parse_uri(f"plus:{path}" + ("?loop=1" if loop else "")))
    try:
        server = open_igtl_server(parse_uri(f"igtl+server://{address}"))
    except BaseException:
        source.close()
        raise
    where = f"{server.host}:{server.port}"
    try:
        waiting = None if on_waiting is None else (lambda: on_waiting(where))
        summary = serve_igtl(source, server, stop, on_waiting=waiting)
    finally:
        source.close()
        server.close()
    return {"path": str(path), "igtl": where, **summary}
