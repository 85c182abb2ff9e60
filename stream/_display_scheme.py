"""The ``display://HOST:PORT`` sink scheme, registered without importing the server.

The OR display (:mod:`._display_server`) pulls in aiohttp and aiortc; this module registers the
scheme so that ``open_sink("display://...")`` imports them only when a display is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from ._registry import ResourceUri, register_sink

if TYPE_CHECKING:
    from ._display_server import DisplaySink


def open_display_sink(uri: ResourceUri) -> DisplaySink:
    """``display://HOST:PORT?token=..&feedback_dir=..&tls_cert=..&tls_key=..&history_s=..``:
    the OR display server (see docs/display.md)."""
    from ._display_server import open_display

    return open_display(uri)


register_sink("display", open_display_sink)


def display_uri(
    address: str = "127.0.0.1:8080",
    *,
    token: str | None = None,
    feedback_dir: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> str:
    """The ``display://`` URI of a display at ``address`` (``HOST:PORT``, or ``PORT`` alone on
    127.0.0.1) with the options given."""
    if address.isdigit():
        address = f"127.0.0.1:{address}"
    options = {
        "token": token,
        "feedback_dir": feedback_dir,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
    }
    query = urlencode({k: v for k, v in options.items() if v is not None})
    return f"display://{address}" + (f"?{query}" if query else "")
