"""Headless chromium for the OR display's browser tests (Playwright, Debian's chromium).

:func:`chromium_browser` skips, saying why, only when /usr/bin/chromium is absent outside CI;
in CI (``CI=true``, which installs chromium) a missing browser is a failure. The flags allow
WebRTC on the loopback with plain host candidates (no mDNS names).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from orstream.bench.display import CHROMIUM as BENCH_CHROMIUM
from orstream.bench.display import CHROMIUM_ARGS

CHROMIUM = Path(BENCH_CHROMIUM)
"""Debian's chromium; its flags (``CHROMIUM_ARGS``) are the display benchmark's."""
VIDEO_PLAYING = """() => {
    const v = document.getElementById('video');
    return v.videoWidth > 0 && v.currentTime > 0;
}"""
"""True once the page's video decodes frames."""


def require_chromium() -> None:
    """Skip (outside CI) or fail (in CI) when /usr/bin/chromium is absent."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: install Debian's chromium for the browser tests"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless chromium (Playwright ``Browser``), closed at the end."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_display(browser: Any, url: str) -> Any:
    """A new page (own context, 1280x720) on ``url``."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(url)
    return page
