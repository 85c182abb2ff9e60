"""``orstream run --display`` and ``orstream demo``: the OR display's link with its token is
printed on stderr, the server answers with the token and refuses without it; the demo moves
off port 8080 when it is taken."""

from __future__ import annotations

import json
import re
import signal
import socket
import urllib.error
import urllib.request
from contextlib import suppress

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
