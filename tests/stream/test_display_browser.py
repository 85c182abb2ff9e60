"""The OR display in a real browser (headless chromium through Playwright): video plays,
telemetry drives the numbers, feedback from the page reaches the disk, a wrong token gets the
login page, several viewers at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orstream.stream import DisplaySink, make_frame
from tests._browser import VIDEO_PLAYING, chromium_browser, open_display

pytestmark = pytest.mark.browser
WAIT_MS = 30_000  # failure bound


class _Feed:
    """A 30-fps synthetic ultrasound stream into ``sink``: a moving bar, a needle mask and a
    result the page shows (tip depth, distance to the nerve: the frame's seq / 10 mm)."""

    def __init__(
        self, sink: DisplaySink, size: tuple[int, int] = (181, 240), stream: str = "us-1"
    ) -> None:
        self.sink, self.size, self.stream = sink, size, stream
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        height, width = self.size
        seq = 0
        while not self.stop.is_set():
            pixels = np.full((height, width), 40, np.uint8)
            pixels[:, (seq * 3) % width] = 255
            frame = make_frame(pixels, self.stream, seq, modality="us", spacing_mm=(0.2, 0.2))
            mask = np.zeros((height, width), np.uint8)
            mask[60:120, 80:160] = 1
            frame.results["needle_mask"] = mask
            tip = {"found": True, "x_px": 150.0, "y_px": 100.0, "y_mm": 20.0, "confidence": 0.9}
            frame.results["us"] = {"needle_tip": tip, "tip_to_nerve_mm": seq / 10}
            self.sink.write(frame)
            seq += 1
            time.sleep(1 / 30)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture
def display(tmp_path: Path) -> Iterator[DisplaySink]:
    with DisplaySink("127.0.0.1", 0, token="browser-token", feedback_dir=tmp_path) as sink:
        feed = _Feed(sink)
        try:
            yield sink
        finally:
            feed.close()


def _number(page: Any, label: str) -> str:
    return str(page.evaluate("window.orstream.stats().numbers")[label])


def test_video_plays_and_numbers_follow_the_data_channel(display: DisplaySink) -> None:
    with chromium_browser() as browser:
        page = open_display(browser, display.url)
        page.wait_for_function(VIDEO_PLAYING, timeout=WAIT_MS)
        assert page.evaluate("document.getElementById('video').videoWidth") == 240  # padded
        first = page.evaluate("document.getElementById('video').currentTime")
        page.wait_for_function(
            f"() => document.getElementById('video').currentTime > {first} + 0.5", timeout=WAIT_MS
        )
        page.wait_for_function("() => window.orstream.stats().matched > 10", timeout=WAIT_MS)
        before = float(_number(page, "Tip to nearest nerve"))
        page.wait_for_function(
            f"() => parseFloat(window.orstream.stats().numbers['Tip to nearest nerve']) > {before}",
            timeout=WAIT_MS,
        )
        assert _number(page, "Needle tip depth") == "20.0"
        stats = page.evaluate("window.orstream.stats()")
        assert stats["added_ms"] and all(np.isfinite(stats["added_ms"]))
        assert stats["shown"]["stream"] == "us-1"


def test_feedback_from_a_frozen_frame_reaches_the_disk(display: DisplaySink) -> None:
    with chromium_browser() as browser:
        page = open_display(browser, display.url)
        page.wait_for_function("() => window.orstream.stats().matched > 5", timeout=WAIT_MS)
        page.keyboard.press("f")
        frozen = page.evaluate("window.orstream.state.frozen.seq")
        page.keyboard.press("a")
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('stored')",
            timeout=WAIT_MS,
        )
        page.keyboard.press("d")
        box = page.locator("#overlay").bounding_box()
        for fx, fy in ((0.2, 0.2), (0.6, 0.2), (0.6, 0.7), (0.2, 0.7)):
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('redraw stored')",
            timeout=WAIT_MS,
        )
    items = sorted(display.feedback_dir.iterdir())
    metas = [json.loads((item / "feedback.json").read_text()) for item in items]
    assert sorted(m["verdict"] for m in metas) == ["accept", "redraw"]
    assert all(m["seq"] == frozen and m["stream_id"] == "us-1" for m in metas)
    redraw = next(m for m in metas if m["verdict"] == "redraw")
    assert len(redraw["polygon_px"]) == 4 and redraw["label"] == 1
    x0, y0 = redraw["polygon_px"][0]
    assert abs(x0 - 0.2 * 240) < 3 and abs(y0 - 0.2 * 181) < 3


def test_a_wrong_token_gets_the_login_page_and_no_video(display: DisplaySink) -> None:
    with chromium_browser() as browser:
        context = browser.new_context()
        page = context.new_page()
        reply = page.goto(display.url.replace("browser-token", "not-it"))
        assert reply is not None and reply.status == 401
        assert page.locator("input[name=token]").count() == 1
        assert page.locator("video").count() == 0
        page.fill("input[name=token]", "browser-token")
        page.click("button")
        page.wait_for_function(VIDEO_PLAYING, timeout=WAIT_MS)


def test_three_viewers_at_once_each_get_video(display: DisplaySink) -> None:
    with chromium_browser() as browser:
        pages = [open_display(browser, display.url) for _ in range(3)]
        for page in pages:
            page.wait_for_function("() => window.orstream.stats().matched > 5", timeout=WAIT_MS)
        assert display.stats()["viewers"] == 3


def test_the_viewer_switches_streams_with_a_button_and_the_n_key(display: DisplaySink) -> None:
    second = _Feed(display, size=(120, 160), stream="us-2")
    try:
        with chromium_browser() as browser:
            page = open_display(browser, display.url + "&stream=us-1")
            page.wait_for_function("() => window.orstream.stats().matched > 3", timeout=WAIT_MS)
            assert page.evaluate("window.orstream.stats().shown.stream") == "us-1"
            page.wait_for_function(
                "() => document.querySelectorAll('#streams button').length === 2", timeout=WAIT_MS
            )
            page.click("#streams button:has-text('us-2')")
            page.wait_for_function(
                "() => window.orstream.stats().shown?.stream === 'us-2'", timeout=WAIT_MS
            )
            page.wait_for_function(
                "() => document.getElementById('video').videoWidth === 160", timeout=WAIT_MS
            )
            page.keyboard.press("n")
            page.wait_for_function(
                "() => window.orstream.stats().shown?.stream === 'us-1'", timeout=WAIT_MS
            )
    finally:
        second.close()
