"""The OR display server without a browser: the token on every route, clinician feedback
written in format v1, hostile requests refused with a 4xx and nothing on disk."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from orstream.kernels import read_feedback
from orstream.stream import (
    FEEDBACK_FORMAT_VERSION,
    DisplaySink,
    display_uri,
    make_frame,
    open_sink,
)

TOKEN = "test-token-123"


@pytest.fixture
def display(tmp_path: Path) -> Iterator[DisplaySink]:
    sink = open_sink(display_uri("127.0.0.1:0", token=TOKEN, feedback_dir=str(tmp_path / "fb")))
    assert isinstance(sink, DisplaySink)
    sink.mask_models["lv_mask"] = "echo-lv"
    try:
        yield sink
    finally:
        sink.close()


def _frame(seq: int, stream: str = "a4c") -> Any:
    pixels = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 7 + seq) % 251
    frame = make_frame(pixels.astype(np.uint8), stream, seq, modality="echo", spacing_mm=(0.3, 0.3))
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 1
    frame.results["lv_mask"] = mask
    frame.results["lv"] = {"area_mm2": 12.5}
    return frame


def _request(
    sink: DisplaySink,
    path: str,
    body: bytes | None = None,
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{sink.port}{path}", data=body)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _feedback(sink: DisplaySink, body: Any) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, reply = _request(sink, "/api/feedback", raw)
    return status, json.loads(reply) if reply else {}


def _items(sink: DisplaySink) -> list[Path]:
    root = sink.feedback_dir
    return sorted(root.iterdir()) if root.exists() else []


def test_binds_loopback_by_default_and_prints_a_url_with_the_token(display: DisplaySink) -> None:
    assert display.host == "127.0.0.1"
    assert display.url == f"http://127.0.0.1:{display.port}/?token={TOKEN}"


ROUTES = ["/", "/static/display.js", "/static/display.css", "/api/streams"]


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_every_route_but_the_login_page_refuses_a_missing_or_wrong_token(
    display: DisplaySink, token: str | None
) -> None:
    for path in ROUTES:
        assert _request(display, path, token=token)[0] == 401, path
    for path in ("/api/offer", "/api/feedback"):
        assert _request(display, path, b"{}", token=token)[0] == 401, path
    assert _request(display, f"/?token={token}", token=None)[0] == 401
    status, page = _request(display, "/login", token=None)
    assert status == 200 and b"token" in page


def test_the_token_opens_the_page_and_sets_a_cookie_for_the_api(display: DisplaySink) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{display.port}/?token={TOKEN}")
    with urllib.request.urlopen(request, timeout=30) as reply:
        cookie = reply.headers["Set-Cookie"]
        assert b"display.js" in reply.read()
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";")[0]
    status, body = _request(display, "/api/streams", token=None, headers={"Cookie": session})
    assert status == 200 and json.loads(body)["streams"] == []
    for name in ("display.js", "display.css"):
        assert _request(display, f"/static/{name}")[0] == 200
    assert _request(display, "/static/..%2f_display_server.py")[0] == 404


def test_write_keeps_the_newest_frame_and_returns_without_viewers(display: DisplaySink) -> None:
    started = time.monotonic()
    for seq in range(500):
        display.write(_frame(seq))
    assert time.monotonic() - started < 60  # a failure bound, not a speed figure
    assert display.written == 500
    assert display.hub.latest("a4c") is not None and display.hub.latest("a4c").seq == 499
    status, body = _request(display, "/api/streams")
    assert status == 200 and json.loads(body)["streams"] == ["a4c"]


def test_feedback_verdicts_are_stored_in_format_v1(display: DisplaySink) -> None:
    frame = _frame(7)
    display.write(frame)
    polygon = [[5, 5], [25, 5], [25, 20], [5, 20]]
    requests: list[dict[str, Any]] = [
        {"stream": "a4c", "seq": 7, "verdict": "accept", "mask": "lv_mask"},
        {"stream": "a4c", "seq": 7, "verdict": "reject"},
        {"stream": "a4c", "seq": 7, "verdict": "redraw", "mask": "lv_mask", "label": 1,
         "polygon_px": polygon},
        {"stream": "a4c", "seq": 7, "verdict": "move_tip", "tip_px": [12.5, 30.0]},
    ]  # fmt: skip
    for body in requests:
        status, reply = _feedback(display, body)
        assert status == 201, reply
    items = _items(display)
    assert len(items) == 4 and all(p.name.startswith("a4c-00000007-") for p in items)
    by_verdict = {}
    for item in items:
        meta = json.loads((item / "feedback.json").read_text())
        by_verdict[meta["verdict"]] = (item, meta)
        assert meta["format"] == "orstream-feedback" and meta["version"] == FEEDBACK_FORMAT_VERSION
        assert meta["stream_id"] == "a4c" and meta["seq"] == 7 and meta["modality"] == "echo"
        assert meta["t_capture_ns"] == frame.t_capture_ns and meta["spacing_mm"] == [0.3, 0.3]
        image = cv2.imread(str(item / "image.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(image, frame.pixels)
        assert item.name.endswith(str(meta["created_ns"]))
    accept, meta = by_verdict["accept"]
    assert meta["model"] == "echo-lv" and meta["polygon_px"] is None
    np.testing.assert_array_equal(
        cv2.imread(str(accept / "mask.png"), -1), frame.results["lv_mask"]
    )
    redraw, meta = by_verdict["redraw"]
    assert meta["label"] == 1 and meta["polygon_px"] == polygon
    redrawn = cv2.imread(str(redraw / "mask.png"), -1)
    assert redrawn.shape == (48, 64) and redrawn[12, 15] == 1 and redrawn[25, 30] == 0
    for verdict in ("reject", "move_tip"):
        assert not (by_verdict[verdict][0] / "mask.png").exists()
    assert by_verdict["move_tip"][1]["tip_px"] == [12.5, 30.0]
    assert by_verdict["reject"][1]["model"] is None


GOOD = {"stream": "a4c", "seq": 3, "verdict": "redraw", "mask": "lv_mask", "label": 1,
        "polygon_px": [[1, 1], [10, 1], [10, 10]]}  # fmt: skip
HOSTILE: list[tuple[Any, int]] = [
    (b"{not json", 400),
    (b"\xff\xfe", 400),
    (b"[" * 200_000, 400),
    (b'{"stream": ' * 20_000, 400),
    ([1, 2, 3], 400),
    ("accept", 400),
    ({**GOOD, "extra": 1}, 400),
    ({**GOOD, "seq": "3"}, 400),
    ({**GOOD, "seq": True}, 400),
    ({**GOOD, "seq": -1}, 400),
    ({**GOOD, "seq": 10**30}, 404),
    ({**GOOD, "seq": 999}, 404),
    ({**GOOD, "stream": "../../etc"}, 404),
    ({**GOOD, "stream": "a4c/../../x"}, 404),
    ({**GOOD, "stream": 5}, 400),
    ({**GOOD, "stream": "x" * 1000}, 400),
    ({**GOOD, "verdict": "delete"}, 400),
    ({**GOOD, "label": 0}, 400),
    ({**GOOD, "label": "1"}, 400),
    ({**GOOD, "polygon_px": [[1, 1], [2, 2]]}, 400),
    ({**GOOD, "polygon_px": [[1, 1], [2, "x"], [3, 3]]}, 400),
    ({**GOOD, "polygon_px": [[1, 1], [2, 2, 2], [3, 3]]}, 400),
    ({**GOOD, "polygon_px": [[1, 1], [2, 1e400], [3, 3]]}, 400),
    ({**GOOD, "polygon_px": [[1, 1], [500, 1], [3, 3]]}, 422),
    ({**GOOD, "polygon_px": [[0, 0]] * 5000}, 400),
    ({**GOOD, "mask": "pixels"}, 422),
    ({**GOOD, "mask": None}, 400),
    ({"stream": "a4c", "seq": 3, "verdict": "move_tip", "tip_px": [-40, 2]}, 422),
    ({"stream": "a4c", "seq": 3, "verdict": "move_tip", "tip_px": None}, 400),
    ({"stream": "a4c", "seq": 3, "verdict": "reject", "label": 2}, 400),
]


@pytest.mark.parametrize(("body", "status"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_feedback_gets_a_4xx_and_changes_nothing_on_disk(
    display: DisplaySink, body: Any, status: int
) -> None:
    display.write(_frame(3))
    assert _feedback(display, body)[0] == status
    assert _items(display) == []
    assert _feedback(display, GOOD)[0] == 201  # and the server still serves


def test_a_huge_body_is_refused_before_it_is_read(display: DisplaySink) -> None:
    display.write(_frame(3))
    huge = json.dumps({**GOOD, "polygon_px": [[1.0, 1.0]] * 200_000}).encode()
    assert len(huge) > 1_000_000
    assert _request(display, "/api/feedback", huge)[0] == 413
    assert _request(display, "/api/offer", huge)[0] == 413
    assert _items(display) == []


@pytest.mark.parametrize(
    "body",
    [b"nope", b"[]", b'{"type": "answer", "sdp": "v=0"}', b'{"type": "offer", "sdp": 5}',
     b'{"type": "offer", "sdp": "not an sdp"}', b'{"type": "offer", "sdp": "v=0", "stream": 3}'],
)  # fmt: skip
def test_a_malformed_offer_is_refused_and_opens_no_viewer(
    display: DisplaySink, body: bytes
) -> None:
    assert _request(display, "/api/offer", body)[0] == 400
    assert display.stats()["viewers"] == 0


def test_stream_ids_are_reduced_to_a_safe_folder_name(display: DisplaySink) -> None:
    display.write(_frame(4, stream="../a b/..\\c"))
    body = {"stream": "../a b/..\\c", "seq": 4, "verdict": "reject"}
    assert _feedback(display, body)[0] == 201
    (item,) = _items(display)
    assert item.parent == display.feedback_dir and item.name.startswith(".._a_b_.._c-00000004-")


def test_frames_older_than_the_history_are_forgotten(tmp_path: Path) -> None:
    with DisplaySink("127.0.0.1", 0, token=TOKEN, feedback_dir=tmp_path, history_s=1.0) as sink:
        old = _frame(1)
        sink.write(old)
        newer = make_frame(old.pixels, "a4c", 2, t_capture_ns=old.t_capture_ns + 2_000_000_000)
        sink.write(newer)
        assert sink.hub.find("a4c", 1) is None and sink.hub.find("a4c", 2) is not None
        assert _feedback(sink, {"stream": "a4c", "seq": 1, "verdict": "reject"})[0] == 404


def test_a_taken_port_is_one_clear_error(display: DisplaySink) -> None:
    with pytest.raises(ValueError, match="cannot listen"):
        open_sink(f"display://127.0.0.1:{display.port}?token=x")


def test_writes_from_several_threads_while_the_api_is_read(display: DisplaySink) -> None:
    def writer(stream: str) -> None:
        for seq in range(100):
            display.write(_frame(seq, stream))

    threads = [threading.Thread(target=writer, args=(f"s{k}",)) for k in range(3)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        assert _request(display, "/api/streams")[0] == 200
    for thread in threads:
        thread.join()
    assert sorted(json.loads(_request(display, "/api/streams")[1])["streams"]) == ["s0", "s1", "s2"]


def test_items_read_back_with_the_trainers_reader_and_16_bit_frames_become_uint8(
    display: DisplaySink,
) -> None:
    frame = _frame(5)
    display.write(frame)
    wide = make_frame(np.arange(40 * 30, dtype=np.uint16).reshape(40, 30) * 50, "fl", 9)
    wide.results["lv_mask"] = np.ones((40, 30), np.uint8)
    display.write(wide)
    for body in (
        {**GOOD, "seq": 5},
        {"stream": "a4c", "seq": 5, "verdict": "accept", "mask": "lv_mask"},
        {"stream": "fl", "seq": 9, "verdict": "accept", "mask": "lv_mask"},
        {"stream": "a4c", "seq": 5, "verdict": "move_tip", "tip_px": [3.0, 4.0]},
    ):
        assert _feedback(display, body)[0] == 201
    read = read_feedback(display.feedback_dir, model="echo-lv")
    assert read.skipped == () and len(read.items) == 4
    assert read.verdicts == {"redraw": 1, "accept": 2, "move_tip": 1}
    stretched = next(item for item in read.items if item.meta["stream_id"] == "fl").image
    assert stretched.dtype == np.uint8 and stretched.min() == 0 and stretched.max() == 255
