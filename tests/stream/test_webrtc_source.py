"""The ``webrtc://`` source against a real aiortc sender: frames arrive with the right size and
content (allowing for codec loss), the newest frame wins, hostile offers are refused and
counted while a good sender keeps streaming."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import ClientSession
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from orstream.stream import Frame, Modality, WebRtcSource, open_source

from .._helpers import wait_until

W, H = 160, 120
GREY = 96
SIDE = 32
ROW = 40
"""The square's top row: it moves along the columns, one step of STEP px per frame."""
STEP = 4


def square_column(n: int) -> int:
    """Left column of the square in frame ``n``."""
    return 16 + (n * STEP) % (W - SIDE - 32)


class SquareTrack(VideoStreamTrack):
    """A moving bright square (white, or ``colour`` RGB) on grey, 160x120, 30 frames/s."""

    def __init__(self, colour: tuple[int, int, int] = (255, 255, 255)) -> None:
        super().__init__()
        self.colour = colour
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = np.full((H, W, 3), GREY, np.uint8)
        x = square_column(self.sent)
        image[ROW : ROW + SIDE, x : x + SIDE] = self.colour
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


async def post(url: str, **kwargs: Any) -> tuple[int, Any]:
    async with ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def connect(
    source: WebRtcSource, track: VideoStreamTrack, **fields: Any
) -> tuple[RTCPeerConnection, dict[str, Any]]:
    """A sender's peer connection, offered to ``source`` (extra JSON ``fields``; a
    ``headers`` entry goes to the request)."""
    headers = fields.pop("headers", None)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(track)
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"sdp": pc.localDescription.sdp, "type": "offer", **fields}
    status, answer = await post(source.url, json=offer, headers=headers)
    assert status == 200, answer
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    return pc, answer


async def take(source: WebRtcSource, n: int) -> list[Frame]:
    """``n`` frames from ``source``, pulled from a worker thread as the engine would."""
    loop = asyncio.get_running_loop()
    frames: list[Frame] = []
    for _ in range(400):
        frame = await loop.run_in_executor(None, source.recv, 0.5)
        if frame is not None:
            frames.append(frame)
            if len(frames) == n:
                return frames
    raise AssertionError(f"only {len(frames)} of {n} frames arrived")


def bright_centroid(mask: np.ndarray[Any, Any]) -> tuple[float, float, int]:
    rows, cols = np.nonzero(mask)
    return float(rows.mean()), float(cols.mean()), len(rows)


@pytest.fixture
def source() -> Iterator[WebRtcSource]:
    src = WebRtcSource(stream_id=None, modality=Modality.US, spacing_mm=(0.2, 0.2))
    yield src
    src.close()


def test_grey_frames_arrive_with_the_square_where_it_was_sent(source: WebRtcSource) -> None:
    async def run() -> list[Frame]:
        pc, answer = await connect(source, SquareTrack(), stream="probe-1")
        assert answer["stream"] == "probe-1"
        try:
            return await take(source, 12)
        finally:
            await pc.close()

    frames = asyncio.run(run())
    lefts = set()
    for frame in frames:
        assert frame.pixels.shape == (H, W) and frame.pixels.dtype == np.uint8
        assert frame.stream_id == "probe-1"
        assert frame.modality is Modality.US and frame.spacing_mm == (0.2, 0.2)
        assert [name for name, _ in frame.trace] == ["recv"]
        background = np.median(frame.pixels[ROW + SIDE + 8 :])
        assert abs(background - GREY) < 16
        row, col, area = bright_centroid(frame.pixels > 200)
        assert abs(row - (ROW + SIDE / 2 - 0.5)) < 3
        assert 16 + SIDE / 2 - 4 < col < W - 32 + 4
        assert 0.6 * SIDE**2 < area < 1.4 * SIDE**2
        lefts.add(round(col))
    assert len(lefts) > 1, "the square moves in the frames sent"
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(b.t_capture_ns >= a.t_capture_ns for a, b in pairwise(frames))
    stats = source.stats()
    assert stats["received"] >= 12 and stats["dropped"] == 0 and stats["peers_total"] == 1


def test_rgb_frames_and_the_uri_options() -> None:
    src = open_source("webrtc://127.0.0.1:0?format=rgb24&stream=cam&modality=echo&spacing_mm=0.3")
    assert isinstance(src, WebRtcSource) and src.live and src.port > 0

    async def run() -> list[Frame]:
        pc, answer = await connect(src, SquareTrack(colour=(230, 20, 20)), stream="ignored")
        assert answer["stream"] == "cam"  # ?stream= wins over the sender's name
        try:
            return await take(src, 5)
        finally:
            await pc.close()

    try:
        frames = asyncio.run(run())
    finally:
        src.close()
    for frame in frames:
        assert frame.pixels.shape == (H, W, 3) and frame.stream_id == "cam"
        assert frame.modality is Modality.ECHO and frame.spacing_mm == (0.3, 0.3)
        red = frame.pixels[..., 0].astype(int) - frame.pixels[..., 1]
        row, _, area = bright_centroid(red > 120)
        assert abs(row - (ROW + SIDE / 2 - 0.5)) < 3 and area > 0.5 * SIDE**2
    src.close()  # idempotent
    assert src.recv(0.01) is None


@pytest.mark.parametrize(
    "uri",
    [
        "webrtc://127.0.0.1",
        "webrtc://127.0.0.1:0?format=bgr",
        "webrtc://127.0.0.1:0?modality=mri",
        "webrtc://127.0.0.1:0?stream=bad/id",
        "webrtc://127.0.0.1:0?colour=1",
        "webrtc://127.0.0.1:0?token=hush&format=bgr",
    ],
)
def test_bad_uris_are_one_line_errors(uri: str) -> None:
    with pytest.raises(ValueError, match="webrtc") as error:
        open_source(uri)
    assert "hush" not in str(error.value) and "\n" not in str(error.value)


def test_newest_frame_wins_and_the_displaced_are_counted_stale(source: WebRtcSource) -> None:
    async def run() -> None:
        pc, _ = await connect(source, SquareTrack())
        try:
            await take(source, 1)
            await asyncio.get_running_loop().run_in_executor(
                None, wait_until, lambda: source.stats()["stale"] >= 3, 60.0
            )
            newest = await take(source, 1)
            assert newest[0].seq >= 4
        finally:
            await pc.close()

    asyncio.run(run())
    assert source.stats()["stale"] >= 3


GOOD_SDP_HEAD = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def test_hostile_offers_are_refused_and_counted() -> None:
    src = WebRtcSource(token="s3cret")

    async def run() -> dict[str, int]:
        url = src.url
        refused = {
            "no token": await post(url, json={"sdp": "v=0", "type": "offer"}),
            "wrong token": await post(
                url, json={"sdp": "v=0", "type": "offer"}, headers={"Authorization": "Bearer x"}
            ),
            "bad json": await post(
                url, data=b"{not json", headers={"Authorization": "Bearer s3cret"}
            ),
            "a list": await post(url, json=[1, 2], headers={"Authorization": "Bearer s3cret"}),
            "an answer": await post(
                url, json={"sdp": GOOD_SDP_HEAD, "type": "answer", "token": "s3cret"}
            ),
            "no video": await post(
                url, json={"sdp": GOOD_SDP_HEAD, "type": "offer", "token": "s3cret"}
            ),
            "garbage sdp": await post(
                url,
                json={"sdp": "v=0\r\nm=video x\r\nrubbish", "type": "offer", "token": "s3cret"},
            ),
            "bad stream id": await post(
                url,
                json={
                    "sdp": GOOD_SDP_HEAD + "m=video",
                    "type": "offer",
                    "token": "s3cret",
                    "stream": "../x",
                },
            ),
        }
        statuses = {k: v[0] for k, v in refused.items()}
        # the source goes on: a sender with the token (in the body) streams
        pc, _ = await connect(src, SquareTrack(), token="s3cret")
        try:
            frames = await take(src, 3)
        finally:
            await pc.close()
        assert all(f.pixels.shape == (H, W) for f in frames)
        return statuses

    try:
        statuses = asyncio.run(run())
    finally:
        src.close()
    assert statuses.pop("no token") == 401 and statuses.pop("wrong token") == 401
    assert set(statuses.values()) == {400}, statuses
    stats = src.stats()
    assert stats["dropped"] == 8
    assert stats["drops"] == {"unauthorised": 2, "bad_offer": 6}
    assert stats["peers_total"] == 1


def test_a_port_in_use_is_an_os_error(source: WebRtcSource) -> None:
    with pytest.raises(OSError, match=str(source.port)):
        WebRtcSource(port=source.port)


def test_close_frees_the_port_and_ends_the_loop_thread() -> None:
    def loop_threads() -> int:
        return sum(t.name == "orstream-webrtc" for t in threading.enumerate())

    before = loop_threads()
    first = WebRtcSource()
    port = first.port
    assert loop_threads() == before + 1
    first.close()
    assert loop_threads() == before
    again = WebRtcSource(port=port)  # the port is free again
    again.close()
    again.close()
    assert again.recv(None) is None  # closed: no wait
