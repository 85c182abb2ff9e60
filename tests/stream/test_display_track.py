"""The display's newest-frame rule: a viewer that falls behind gets the newest frame, never a
backlog, and the frames it missed are counted; another viewer is not held up by it."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import numpy as np

from orstream.stream import DisplayHub, NewestFrameTrack, make_frame, video_pts


def _put(hub: DisplayHub, stream: str, seqs: range, shape: tuple[int, ...] = (31, 45)) -> None:
    for seq in seqs:
        pixels = np.full(shape, seq % 256, np.uint8)
        hub.put(make_frame(pixels, stream, seq, t_capture_ns=1_000_000_000 * (seq + 1)), 0)


def test_a_slow_viewer_gets_the_newest_frame_and_counts_what_it_missed() -> None:
    async def scenario() -> None:
        hub = DisplayHub()
        hub.bind(asyncio.get_running_loop(), asyncio.Condition())
        sent: list[int] = []
        slow = NewestFrameTrack(hub, "a", on_frame=lambda held: sent.append(held.seq))
        fast = NewestFrameTrack(hub, "a")
        _put(hub, "a", range(3))
        assert (await fast.recv()).pts == video_pts(3_000_000_000, 2)
        _put(hub, "a", range(3, 100))  # the slow viewer pulls nothing meanwhile
        frame = await slow.recv()
        assert sent == [99] and slow.skipped == 0  # its first frame: the newest
        _put(hub, "a", range(100, 150))
        await slow.recv()
        assert sent == [99, 149] and slow.skipped == 49
        assert frame.width == 46 and frame.height == 32  # odd sizes padded to even
        assert frame.time_base == Fraction(1, 90_000) and frame.format.name == "yuv420p"
        assert (await fast.recv()).pts == video_pts(150_000_000_000, 149)
        waiting = asyncio.ensure_future(fast.recv())  # nothing newer: it waits, not repeats
        await asyncio.sleep(0.05)
        assert not waiting.done()
        _put(hub, "a", range(150, 151))
        assert (await asyncio.wait_for(waiting, 30)).pts == video_pts(151_000_000_000, 150)

    asyncio.run(scenario())


def test_a_track_stays_on_its_stream_and_shows_grey_as_luma() -> None:
    async def scenario() -> None:
        hub = DisplayHub()
        hub.bind(asyncio.get_running_loop(), asyncio.Condition())
        track = NewestFrameTrack(hub, None)
        _put(hub, "a", range(5), shape=(16, 16))
        frame = await track.recv()
        assert track.stream == "a"
        _put(hub, "b", range(10, 20), shape=(16, 16))
        _put(hub, "a", range(5, 6), shape=(16, 16))
        frame = await track.recv()
        planes = frame.to_ndarray()
        assert (planes[:16] == 5).all() and (planes[16:] == 128).all()
        assert hub.streams() == ["b", "a"] and hub.find("b", 17) is not None
        assert hub.find("b", 12) is None  # older than the 5 s kept

    asyncio.run(scenario())
