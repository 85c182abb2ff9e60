"""``orstream run --display`` and ``orstream demo``: the OR display's link with its token is
printed on stderr, the server answers with the token and refuses without it; the demo moves
off port 8080 when it is taken."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from contextlib import suppress

import pytest

from tests._browser import VIDEO_PLAYING, chromium_browser, open_display
from tests._helpers import free_port, orstream_spawn, stderr_line, wait_until

LINK = r"^display: (http://127\.0\.0\.1:(\d+)/\?token=(\S+))$"


def _get(url: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_run_display_prints_its_link_and_serves_only_with_the_token() -> None:
    port = free_port()
    process = orstream_spawn(
        "run", "--source", "sim:us?fps=10", "--display", f"127.0.0.1:{port}",
        "--token", "cli-token", "--duration", "60", "--quiet", "--json",
    )  # fmt: skip
    try:
        line = stderr_line(process, LINK, timeout_s=120)
        match = re.match(LINK, line.strip())
        assert match is not None and match.group(2) == str(port)
        assert match.group(3) == "cli-token"
        api = f"http://127.0.0.1:{port}/api/streams"
        assert _get(api, None)[0] == 401
        assert _get(api, "wrong")[0] == 401

        def has_stream() -> bool:
            status, body = _get(api, "cli-token")
            return status == 200 and json.loads(body)["streams"] == ["sim-us"]

        wait_until(has_stream, timeout_s=60)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode in (0, 130)


def test_demo_prints_the_display_link_and_leaves_a_taken_port_8080() -> None:
    with socket.socket() as holder:
        with suppress(OSError):  # 8080 taken already by someone else does as well
            holder.bind(("127.0.0.1", 8080))
            holder.listen()
        process = orstream_spawn(
            "demo", "--modality", "us", "--duration", "2", "--headless", "--json"
        )
        try:
            line = stderr_line(process, LINK, timeout_s=120)
        finally:
            out, err = process.communicate(timeout=180)
    match = re.match(LINK, line.strip())
    assert match is not None and match.group(2) != "8080"
    assert process.returncode == 0, err
    assert json.loads(out)["frames"]["sent"] == 60


@pytest.mark.browser
@pytest.mark.slow
def test_the_echo_demo_in_a_browser_plays_video_and_shows_ef_and_heart_rate() -> None:
    """What a user does first: ``orstream demo``, then the printed link in a browser. The time
    from the link to playing video is printed (a figure, not a gate)."""
    process = orstream_spawn("demo", "--modality", "echo", "--duration", "120", "--headless")
    try:
        line = stderr_line(process, LINK, timeout_s=120)
        match = re.match(LINK, line.strip())
        assert match is not None
        with chromium_browser() as browser:
            linked = time.monotonic()
            page = open_display(browser, match.group(1))
            page.wait_for_function(VIDEO_PLAYING, timeout=90_000)
            playing_s = time.monotonic() - linked
            numbers = "window.orstream.stats().numbers"
            page.wait_for_function(
                f"() => {{ const n = {numbers}; return ['EF', 'Heart rate'].every("
                "k => n[k] !== undefined && n[k] !== '\\u2013'); }",
                timeout=90_000,
            )
            first = page.evaluate(f"{numbers}['LV area']")
            page.wait_for_function(f"() => {numbers}['LV area'] !== {first!r}", timeout=30_000)
        print(f"echo demo: video playing {playing_s:.2f} s after the link was printed")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
    assert process.returncode in (0, 130)
