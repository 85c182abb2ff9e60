"""The OR display: a sink that serves the live stream to browsers (``display://HOST:PORT``).

:class:`DisplaySink` runs an aiohttp server on its own thread and event loop. ``write`` (the
pipeline's thread) only stores the newest frame and returns (:class:`DisplayHub`); each viewer
gets WebRTC video (aiortc, host-only ICE, no STUN) from a :class:`NewestFrameTrack` and the
frame's telemetry on the data channel the page opens, so a slow viewer never slows the engine
or the others. Every route but the login page needs the access token (``?token=`` on the page,
then the cookie it sets, or ``Authorization: Bearer``). Routes: ``/`` (the page),
``/static/*``, ``GET /api/streams``, ``POST /api/offer``, ``POST /api/feedback``. See
docs/display.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final, Self

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from ._display_hub import HISTORY_S, DisplayHub, HeldFrame
from ._display_track import NewestFrameTrack
from ._feedback_store import FeedbackError, parse_feedback, write_feedback
from ._frame import Frame
from ._registry import ResourceUri

STATIC_DIR: Final = Path(__file__).parent / "display"
STATIC_FILES: Final = {"display.js": "text/javascript", "display.css": "text/css"}
COOKIE: Final = "orstream_token"
MAX_BODY_BYTES: Final = 256 * 1024
"""Largest request body (an SDP offer, a feedback polygon); more is answered 413."""
MAX_VIEWERS: Final = 16
VIDEO_MAX_PX: Final = 768
"""Default largest side of the video (a 1024 px fluoroscopy frame is sent at 768 px)."""
MAX_CHANNEL_BACKLOG: Final = 1 << 20
"""Telemetry bytes waiting in a viewer's data channel above which its frames' telemetry is
skipped (a viewer that reads slowly)."""
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
_log = logging.getLogger("orstream.display")
logging.getLogger("aioice.ice").setLevel(logging.WARNING)  # one line per ICE check is noise


class _Viewer:
    """One browser: its peer connection, track and telemetry channel."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.channel: Any = None
        self.track: NewestFrameTrack | None = None
        self.telemetry_sent = 0
        self.telemetry_skipped = 0

    def send(self, held: HeldFrame) -> None:
        channel = self.channel
        if channel is None or channel.readyState != "open":
            return
        if channel.bufferedAmount > MAX_CHANNEL_BACKLOG:
            self.telemetry_skipped += 1
            return
        channel.send(held.telemetry_text())
        self.telemetry_sent += 1
        if self.track is not None and self.telemetry_sent % 30 == 1:  # about once a second
            health = {"type": "viewer", **self.track.stats()}
            channel.send(json.dumps({**health, "skipped_telemetry": self.telemetry_skipped}))


class DisplaySink:
    """The OR display server as a pipeline sink; starts serving on construction.

    ``host``/``port``: where it listens (127.0.0.1 by default; port 0 picks a free one, see
    ``port``); ``token``: the access token (default env ORSTREAM_TOKEN, else a new random
    one); ``feedback_dir``: where clinician feedback goes; ``tls_cert``/``tls_key``: PEM files
    for HTTPS; ``history_s``: seconds of frames kept for feedback; ``mask_models``: mask result
    key to model name (feedback items name the model); ``video_max_px``: the video's largest
    side (larger frames are scaled down for the wire, None: never; overlays stay exact).
    OSError when it cannot listen.
    """

    name = "display"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        token: str | None = None,
        feedback_dir: str | os.PathLike[str] = "feedback",
        tls_cert: str | None = None,
        tls_key: str | None = None,
        history_s: float = HISTORY_S,
        mask_models: Mapping[str, str] | None = None,
        video_max_px: int | None = VIDEO_MAX_PX,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token or os.environ.get("ORSTREAM_TOKEN") or secrets.token_urlsafe(24)
        self.feedback_dir = Path(feedback_dir)
        self.mask_models: dict[str, str] = dict(mask_models or {})
        self.hub = DisplayHub(history_s)
        self.video_max_px = video_max_px
        self.written = 0
        self.feedback_items = 0
        self.refused = 0
        self._ssl: ssl.SSLContext | None = None
        if tls_cert or tls_key:
            if not (tls_cert and tls_key):
                raise ValueError("TLS needs both a certificate and a key")
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(tls_cert, tls_key)
        self._viewers: set[_Viewer] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._errors: list[Exception] = []  # why the server thread could not start
        self._closed = False
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(started,), name="orstream-display", daemon=True
        )
        self._thread.start()
        started.wait()
        if self._errors:
            self._thread.join()
            raise OSError(f"display {host}:{port}: cannot listen ({self._errors[0]})")

    @property
    def url(self) -> str:
        """The page's address with the token (give it to the viewer, not to a log)."""
        scheme = "https" if self._ssl is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/?token={self.token}"

    def write(self, frame: Frame) -> None:
        """Keep ``frame`` as its stream's newest (copied) and return; never waits for a
        viewer."""
        if self._closed:
            raise ValueError("display sink is closed")
        self.hub.put(frame, time.time_ns())
        self.written += 1

    def stats(self) -> dict[str, Any]:
        viewers = list(self._viewers)
        return {
            "written": self.written,
            "viewers": len(viewers),
            "feedback_items": self.feedback_items,
            "refused": self.refused,
            "viewer_frames": [v.track.stats() for v in viewers if v.track is not None],
        }

    def close(self) -> None:
        """Close every viewer and stop the server; idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=15.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the server thread ------------------------------------------------------------------

    def _serve(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
        except Exception as exc:
            self._errors.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._stop())
            loop.run_until_complete(loop.shutdown_default_executor())  # the encoders' threads
            loop.close()

    async def _start(self) -> None:
        self.hub.bind(asyncio.get_running_loop(), asyncio.Condition())
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/login", self._login)
        app.router.add_get("/favicon.ico", self._no_icon)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/streams", self._streams)
        app.router.add_post("/api/offer", self._offer)
        app.router.add_post("/api/feedback", self._feedback)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        for viewer in list(self._viewers):
            await viewer.pc.close()
        self._viewers.clear()
        if self._runner is not None:
            await self._runner.cleanup()

    # routes ---------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        offered = [
            request.query.get("token"),
            request.cookies.get(COOKIE),
            header[7:] if header.startswith("Bearer ") else None,
        ]
        expected = self.token.encode()
        return any(t is not None and secrets.compare_digest(t.encode(), expected) for t in offered)

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path not in ("/login", "/favicon.ico") and not self._authorized(request):
            self.refused += 1
            if request.path == "/":
                response: web.StreamResponse = self._login_page(status=401)
            else:
                response = web.json_response({"error": "unauthorized"}, status=401)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = web.json_response({"error": exc.reason}, status=exc.status)
        response.headers.update(_HEADERS)
        return response

    def _login_page(self, status: int = 200) -> web.Response:
        text = (STATIC_DIR / "login.html").read_text(encoding="utf-8")
        return web.Response(text=text, content_type="text/html", status=status)

    async def _login(self, request: web.Request) -> web.Response:
        return self._login_page()

    async def _no_icon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _page(self, request: web.Request) -> web.Response:
        text = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        response = web.Response(text=text, content_type="text/html")
        if request.query.get("token"):
            response.set_cookie(
                COOKIE,
                self.token,
                httponly=True,
                samesite="Strict",
                secure=self._ssl is not None,
            )
        return response

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        body = (STATIC_DIR / name).read_bytes()
        return web.Response(body=body, content_type=STATIC_FILES[name])

    async def _streams(self, request: web.Request) -> web.Response:
        return web.json_response({"streams": self.hub.streams(), "viewers": len(self._viewers)})

    async def _json_body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.text())
        except web.HTTPRequestEntityTooLarge:
            raise
        except (ValueError, RecursionError):  # RecursionError: hostile nesting
            raise web.HTTPBadRequest(reason="body is not JSON") from None

    async def _offer(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if not isinstance(body, dict) or body.get("type") != "offer":
            raise web.HTTPBadRequest(reason="expected {sdp, type: 'offer', stream}")
        sdp, stream = body.get("sdp"), body.get("stream")
        if not isinstance(sdp, str) or not (stream is None or isinstance(stream, str)):
            raise web.HTTPBadRequest(reason="sdp must be a string, stream a string or null")
        if len(self._viewers) >= MAX_VIEWERS:
            raise web.HTTPServiceUnavailable(reason=f"at most {MAX_VIEWERS} viewers")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        viewer = _Viewer(pc)
        viewer.track = NewestFrameTrack(
            self.hub, stream, on_frame=viewer.send, max_px=self.video_max_px
        )

        @pc.on("datachannel")
        def _channel(channel: Any) -> None:
            viewer.channel = channel

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._viewers.discard(viewer)
                await pc.close()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            pc.addTrack(viewer.track)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # a malformed offer: refuse it, keep serving
            await pc.close()
            reason = f"cannot answer the offer ({type(exc).__name__})"
            raise web.HTTPBadRequest(reason=reason) from None
        self._viewers.add(viewer)
        answer = pc.localDescription
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    async def _feedback(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        try:
            feedback = parse_feedback(body)
            held = self.hub.find(feedback.stream, feedback.seq)
            if held is None:
                raise FeedbackError(
                    404,
                    "no such frame held (unknown stream or seq, or older than the display keeps)",
                )
            loop = asyncio.get_running_loop()
            path = await loop.run_in_executor(
                None, write_feedback, self.feedback_dir, feedback, held, self.mask_models
            )
        except FeedbackError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        self.feedback_items += 1
        _log.info("feedback %s on frame %d stored", feedback.verdict, feedback.seq)
        return web.json_response({"stored": path.name}, status=201)


def open_display(uri: ResourceUri) -> DisplaySink:
    """``display://HOST:PORT?token=..&feedback_dir=..&tls_cert=..&tls_key=..&history_s=..
    &video_max_px=..`` (0: no limit)."""
    uri.check_keys({"token", "feedback_dir", "tls_cert", "tls_key", "history_s", "video_max_px"})
    host, _, port_text = (uri.target or "127.0.0.1:8080").rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{uri.text!r}: expected display://HOST:PORT") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{uri.text!r}: port {port} is out of range")
    try:
        return DisplaySink(
            host,
            port,
            token=uri.query.get("token"),
            feedback_dir=uri.query.get("feedback_dir", "feedback"),
            tls_cert=uri.query.get("tls_cert"),
            tls_key=uri.query.get("tls_key"),
            history_s=uri.number("history_s", HISTORY_S),
            video_max_px=_max_px(uri),
        )
    except OSError as exc:
        raise ValueError(f"{uri.text!r}: {exc}") from None


def _max_px(uri: ResourceUri) -> int | None:
    value = uri.integer("video_max_px", VIDEO_MAX_PX)
    if value < 0 or value == 1:
        raise ValueError(f"{uri.text!r}: video_max_px must be 0 (no limit) or at least 2")
    return int(value) or None
