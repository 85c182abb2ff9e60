"""Live video over WebRTC: the ``webrtc://HOST:PORT`` source (a browser or a device sends).

The source serves one signalling route, ``POST /offer`` with ``{"sdp": ..., "type": "offer"}``
JSON (and optionally ``"stream"``: the sender's stream id), and answers with the SDP of an
aiortc ``RTCPeerConnection`` that receives the offered video track. No STUN or TURN server is
asked (``iceServers=[]``): host candidates only, for a sender on the same machine or network.
Options (query keys): ``token`` (the offer must carry it as ``Authorization: Bearer TOKEN`` or
a ``"token"`` field, else 401), ``format`` (``gray``: uint8 (H, W), the default; ``rgb24``:
uint8 (H, W, 3)), ``stream`` (stream id; default the sender's, else ``webrtc``; a second
sender at once gets ``-2``, ...), ``modality`` (default ``other``), ``spacing_mm`` (both axes),
``max_peers`` (concurrent senders, default 4). It binds HOST (127.0.0.1 unless told otherwise;
port 0 picks a free port: :attr:`WebRtcSource.port`).

Each decoded ``av.VideoFrame`` becomes a :class:`~._frame.Frame` whose capture time is its
receive time (ns since the epoch: RTP carries no wall clock). The source is live: it keeps
only the newest frame of each stream, and a frame the consumer did not take before the next
arrived is counted ``stale``. A malformed, unauthorised or surplus offer is answered 400 /
401 / 503 and counted as a drop; it never stops the source. The asyncio loop (aiohttp and
aiortc) runs in its own thread; :meth:`WebRtcSource.close` shuts it down.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Final

from ._drops import DropCounter
from ._frame import Frame, Modality, make_frame
from ._registry import ResourceUri, register_source
from ._wire import MAX_STREAM_ID_CHARS

PIXEL_FORMATS: Final = ("gray", "rgb24")
MAX_OFFER_BYTES: Final = 256 * 1024
_KEYS: Final = frozenset({"token", "format", "stream", "modality", "spacing_mm", "max_peers"})
_STREAM_ID: Final = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_STREAM_ID_CHARS}}}")
_START_TIMEOUT_S: Final = 30.0


class _OfferError(Exception):
    """An offer refused with an HTTP ``status`` and a drop ``kind``."""

    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.kind = status, kind


class WebRtcSource:
    """Frames of the video tracks that senders offer at ``POST http://HOST:PORT/offer``.

    ``pixel_format``: "gray" (uint8 (H, W)) or "rgb24" (uint8 (H, W, 3)); ``token``: the
    shared secret an offer must carry (None: none asked); ``stream_id``: overrides the
    sender's; ``modality``, ``spacing_mm`` ((row, col) mm) go into every frame's header.
    Starts serving at once; OSError when HOST:PORT cannot be bound, ImportError without
    aiortc / aiohttp.
    """

    live = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        pixel_format: str = "gray",
        stream_id: str | None = None,
        modality: Modality | str = Modality.OTHER,
        spacing_mm: tuple[float, float] | None = None,
        max_peers: int = 4,
    ) -> None:
        if pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"format must be one of {', '.join(PIXEL_FORMATS)}")
        if stream_id is not None and not _STREAM_ID.fullmatch(stream_id):
            raise ValueError(f"stream must be 1-{MAX_STREAM_ID_CHARS} of [A-Za-z0-9_.-]")
        if max_peers < 1:
            raise ValueError("max_peers must be >= 1")
        self.host = host
        self.port = port
        self.pixel_format = pixel_format
        self.modality = Modality(modality)
        self.spacing_mm = spacing_mm
        self.max_peers = max_peers
        self.drops = DropCounter("webrtc source")
        self.received = 0
        self.stale = 0
        self.peers_total = 0
        self._token = token
        self._stream_id = stream_id
        self._pending: OrderedDict[str, Frame] = OrderedDict()
        self._seq: dict[str, int] = {}
        self._cond = threading.Condition()
        self._peers: dict[Any, str] = {}  # RTCPeerConnection -> stream id
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._runner: Any = None
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(started, failure), name="orstream-webrtc", daemon=True
        )
        self._thread.start()
        if not started.wait(_START_TIMEOUT_S):
            raise OSError(f"webrtc source {host}:{port}: the server did not start")
        if failure:
            self._thread.join()
            raise failure[0]

    # -- the loop thread ------------------------------------------------------------------------
    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # handed to the constructor
            failure.append(exc)
            started.set()
            self._loop.close()
            return
        started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        for name in ("aioice", "aiortc"):  # per-candidate ICE chatter at INFO: keep warnings
            noisy = logging.getLogger(name)
            if noisy.level == logging.NOTSET:
                noisy.setLevel(logging.WARNING)

        app = web.Application(client_max_size=MAX_OFFER_BYTES)
        app.router.add_post("/offer", self._on_offer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise OSError(f"webrtc source {self.host}:{self.port}: {exc.strerror}") from None
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])

    async def _on_offer(self, request: Any) -> Any:
        from aiohttp import web

        try:
            body = await request.read()
            offer = self._check_offer(request.headers.get("Authorization", ""), body)
            answer = await self._answer(offer)
        except _OfferError as rejected:
            self.drops.drop(rejected.kind, str(rejected))
            return web.json_response({"error": str(rejected)}, status=rejected.status)
        return web.json_response(answer)

    def _check_offer(self, authorization: str, body: bytes) -> dict[str, Any]:
        """The offer document; _OfferError (401, 400, 503) when it may not or cannot be used."""
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            doc = None
        if self._token is not None:
            given = authorization.removeprefix("Bearer ").strip() if authorization else ""
            if not given and isinstance(doc, dict) and isinstance(doc.get("token"), str):
                given = doc["token"]
            if not hmac.compare_digest(given.encode(), self._token.encode()):
                raise _OfferError(401, "unauthorised", "the offer carries no valid token")
        if not isinstance(doc, dict):
            raise _OfferError(400, "bad_offer", "the offer is not a JSON object")
        sdp = doc.get("sdp")
        if doc.get("type") != "offer" or not isinstance(sdp, str) or not sdp.startswith("v=0"):
            raise _OfferError(400, "bad_offer", 'expected {"sdp": "v=0...", "type": "offer"}')
        if "m=video" not in sdp:
            raise _OfferError(400, "bad_offer", "the offer has no video track")
        peer_stream = doc.get("stream")
        if peer_stream is not None and not (
            isinstance(peer_stream, str) and _STREAM_ID.fullmatch(peer_stream)
        ):
            raise _OfferError(400, "bad_offer", "stream must be 1-64 of [A-Za-z0-9_.-]")
        if self._closed:
            raise _OfferError(503, "closing", "the source is closing")
        if len(self._peers) >= self.max_peers:
            raise _OfferError(503, "peer_limit", f"already {self.max_peers} sender(s)")
        return doc

    def _free_stream_id(self, wanted: str) -> str:
        taken = set(self._peers.values())
        if wanted not in taken:
            return wanted
        n = 2
        while f"{wanted}-{n}"[:MAX_STREAM_ID_CHARS] in taken:
            n += 1
        return f"{wanted}-{n}"[:MAX_STREAM_ID_CHARS]

    async def _answer(self, offer: dict[str, Any]) -> dict[str, str]:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        stream_id = self._free_stream_id(self._stream_id or offer.get("stream") or "webrtc")
        self._peers[pc] = stream_id

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                task = asyncio.ensure_future(self._consume(track, stream_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._drop_peer(pc)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc raises many kinds on a bad SDP
            await self._drop_peer(pc)
            raise _OfferError(400, "bad_offer", f"unusable SDP ({type(exc).__name__})") from None
        self.peers_total += 1
        local = pc.localDescription
        return {"sdp": local.sdp, "type": local.type, "stream": stream_id}

    async def _drop_peer(self, pc: Any) -> None:
        self._peers.pop(pc, None)
        await pc.close()

    async def _consume(self, track: Any, stream_id: str) -> None:
        """Turn each decoded frame of ``track`` into a Frame (newest per stream kept)."""
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                video = await track.recv()
            except MediaStreamError:
                return
            t_ns = time.time_ns()
            try:
                pixels = video.to_ndarray(format=self.pixel_format)
            except Exception as exc:  # a frame the converter cannot read: count, go on
                self.drops.drop("decode", f"{type(exc).__name__}: {exc}")
                continue
            with self._cond:
                seq = self._seq.get(stream_id, 0)
                self._seq[stream_id] = seq + 1
                frame = make_frame(
                    pixels,
                    stream_id,
                    seq,
                    t_capture_ns=t_ns,
                    modality=self.modality,
                    spacing_mm=self.spacing_mm,
                )
                self.received += 1
                if self._pending.pop(stream_id, None) is not None:
                    self.stale += 1
                self._pending[stream_id] = frame
                self._cond.notify()

    async def _shutdown(self) -> None:
        for pc in list(self._peers):
            await self._drop_peer(pc)
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the consumer's side --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Where senders POST their offer."""
        return f"http://{self.host}:{self.port}/offer"

    def recv(self, timeout_s: float | None = None) -> Frame | None:
        """The newest frame of the stream waiting longest, or None after ``timeout_s`` s
        (None: wait until one comes or the source is closed)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            _, frame = self._pending.popitem(last=False)
        return frame.stamp("recv")

    def stats(self) -> dict[str, Any]:
        """Frames received, stale (displaced before taken), offers and frames dropped (total
        and by kind), senders connected now and ever."""
        with self._cond:
            return {
                "received": self.received,
                "stale": self.stale,
                "dropped": self.drops.total,
                "drops": self.drops.as_dict(),
                "peers": len(self._peers),
                "peers_total": self.peers_total,
            }

    def close(self) -> None:
        """Close every peer connection and the server, stop the loop thread; idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():  # the loop runs, or is about to: it takes the call
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                future.result(timeout=10)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def _open_webrtc(uri: ResourceUri) -> WebRtcSource:
    """``webrtc://HOST:PORT?token=..&format=gray|rgb24&stream=..&modality=..&spacing_mm=..``;
    ValueError (one line, the token masked) for bad options."""
    token = uri.query.get("token") or None
    try:
        return _open_checked(uri, token)
    except ValueError as exc:
        text = str(exc) if token is None else str(exc).replace(token, "***")
        raise ValueError(text) from None


def _open_checked(uri: ResourceUri, token: str | None) -> WebRtcSource:
    uri.check_keys(_KEYS)
    host, sep, port_text = uri.target.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{uri.text!r}: expected webrtc://HOST:PORT")
    modality = uri.query.get("modality", Modality.OTHER.value)
    if modality not in {m.value for m in Modality}:
        known = ", ".join(m.value for m in Modality)
        raise ValueError(f"{uri.text!r}: modality must be one of {known}; got {modality!r}")
    spacing: float | None = uri.number("spacing_mm")
    try:
        return WebRtcSource(
            host.strip("[]") or "127.0.0.1",
            int(port_text),
            token=token,
            pixel_format=uri.query.get("format", "gray"),
            stream_id=uri.query.get("stream"),
            modality=modality,
            spacing_mm=None if spacing is None else (spacing, spacing),
            max_peers=uri.integer("max_peers", 4),
        )
    except ValueError as exc:
        raise ValueError(f"{uri.text!r}: {exc}") from None


register_source("webrtc", _open_webrtc)
