"""The robot feed's transport (RobotFeedSink, RobotFeedReceiver) and its control socket
(JsonControlServer, control_request): envelopes and heartbeats, counted drops of bad input,
no bind beyond loopback without CURVE, CURVE with an allow-list (docs/robot-feed.md)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq

from orstream.stream import (
    FEED_VERSION,
    JsonControlServer,
    RobotFeedReceiver,
    RobotFeedSink,
    control_request,
    generate_keypair,
    make_frame,
)
from tests._helpers import TCP_BIND, free_port, wait_until


class _Result:
    def to_json(self) -> dict[str, Any]:
        return {"state": "ACTIVE", "command": {"advance_mm_s": 1.5}}


def _collect(receiver: RobotFeedReceiver, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        message = receiver.recv(timeout_s=10.0)
        assert message is not None, f"only {len(messages)} of {count} messages came"
        messages.append(message)
    return messages


def test_heartbeats_come_without_frames_and_commands_come_per_frame() -> None:
    beats = iter(range(1_000_000))
    feed = RobotFeedSink(TCP_BIND, lambda now: {"beat": next(beats), "now_ns": now})
    receiver = RobotFeedReceiver(f"zmq+{feed.last_endpoint}")
    try:
        feed.open()
        heartbeats = _collect(receiver, 3)  # idle: heartbeats only
        assert {m["kind"] for m in heartbeats} == {"heartbeat"}
        frame = make_frame(np.zeros((2, 2), np.uint8), "s", 7, t_capture_ns=1)
        frame.results["guidance"] = _Result()
        feed.write(frame)
        feed.write(make_frame(np.zeros((2, 2), np.uint8), "s", 8, t_capture_ns=2))  # none
        later = _collect(receiver, 8)
        commands = [m for m in later if m["kind"] == "command"]
        assert len(commands) == 1 and commands[0]["command"] == {"advance_mm_s": 1.5}
        everything = heartbeats + later
        assert all(m["v"] == FEED_VERSION and isinstance(m["t_ns"], int) for m in everything)
        seqs = [m["seq"] for m in everything]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # one counter, every kind
        assert feed.stats()["sent"]["command"] == 1
    finally:
        receiver.close()
        feed.close()


def test_a_failing_heartbeat_is_not_sent_and_the_heartbeats_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"n": 0}

    def heartbeat(_now: int) -> Mapping[str, Any]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the gate's owner failed")
        return {"n": calls["n"]}

    feed = RobotFeedSink(TCP_BIND, heartbeat, heartbeat_hz=50.0)
    receiver = RobotFeedReceiver(f"zmq+{feed.last_endpoint}")
    try:
        feed.open()
        wait_until(lambda: calls["n"] >= 4)
        numbers = [m["n"] for m in _collect(receiver, 2)]
        assert 2 not in numbers
        assert feed.heartbeat_errors == 1
        assert "heartbeat failed" in caplog.text
    finally:
        receiver.close()
        feed.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "*", "192.0.2.1"])
def test_a_feed_or_control_socket_beyond_loopback_needs_curve(host: str) -> None:
    endpoint = f"zmq+tcp://{host}:{free_port()}"
    with pytest.raises(ValueError, match="without CURVE"):
        RobotFeedSink(endpoint, lambda _now: {})
    with pytest.raises(ValueError, match="without CURVE"):
        JsonControlServer(endpoint, lambda request: request)


def test_a_robot_link_beyond_loopback_needs_an_allow_list_not_any(tmp_path: Path) -> None:
    _, secret = generate_keypair(tmp_path, "server")
    endpoint = f"zmq+tcp://0.0.0.0:{free_port()}?curve_secret={secret}&curve_allow=any"
    with pytest.raises(ValueError, match="not any"):
        RobotFeedSink(endpoint, lambda _now: {})
    with pytest.raises(ValueError, match="not any"):
        JsonControlServer(endpoint, lambda request: request)


def test_the_receiver_drops_and_counts_bad_messages_and_goes_on() -> None:
    context = zmq.Context.instance()
    pub = context.socket(zmq.PUB)
    pub.linger = 0
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    receiver = RobotFeedReceiver(f"zmq+tcp://127.0.0.1:{port}")
    good = {"v": 1, "seq": 1, "t_ns": 0, "kind": "heartbeat", "state": "HOLD"}
    bad = [b"\xff\xfe", b"[1, 2]", b'{"v": 2, "seq": 1, "kind": "command"}',
           b'{"v": 1, "seq": "1", "kind": "command"}', b'{"v": 1, "seq": 1, "kind": "dance"}',
           b"not json"]  # fmt: skip
    try:
        received = None
        while received is None:  # the subscription takes a moment to reach the publisher
            pub.send(json.dumps(good).encode())
            received = receiver.recv(timeout_s=0.1)
        for raw in bad:
            pub.send(raw)
        pub.send(json.dumps({**good, "seq": 2}).encode())
        following = receiver.recv(timeout_s=10.0)
        while following is not None and following["seq"] == 1:
            following = receiver.recv(timeout_s=10.0)
        assert following is not None and following["seq"] == 2
        assert receiver.malformed.as_dict() == {
            "not_json": 2, "not_object": 1, "version": 1, "seq": 1, "kind": 1,
        }  # fmt: skip
    finally:
        receiver.close()
        pub.close()


def test_the_control_socket_answers_and_survives_bad_requests() -> None:
    seen: list[Mapping[str, Any]] = []

    def handler(request: Mapping[str, Any]) -> Mapping[str, Any]:
        seen.append(request)
        if request.get("op") == "boom":
            raise RuntimeError("handler failed")
        return {"ok": True, "op": request.get("op")}

    server = JsonControlServer(f"zmq+tcp://127.0.0.1:{free_port()}", handler)
    server.open()
    endpoint = f"zmq+{server.last_endpoint}"
    try:
        assert control_request(endpoint, {"op": "enable"}) == {"ok": True, "op": "enable"}
        assert control_request(endpoint, {"op": "boom"})["ok"] is False
        context = zmq.Context.instance()
        req = context.socket(zmq.REQ)
        req.linger = 0
        req.connect(server.last_endpoint)
        for raw in (b"\xff", b"[]"):
            req.send(raw)
            assert req.poll(10_000)
            assert json.loads(req.recv())["ok"] is False
        req.close()
        assert control_request(endpoint, {"op": "status"})["op"] == "status"
        assert server.malformed.as_dict() == {"handler": 1, "not_json": 1, "not_object": 1}
        assert server.handled == 2
    finally:
        server.close()


def test_curve_feed_and_control_serve_allowed_clients_only(tmp_path: Path) -> None:
    server_public, server_secret = generate_keypair(tmp_path / "server", "server")
    client_public, client_secret = generate_keypair(tmp_path / "client", "client")
    _, stranger_secret = generate_keypair(tmp_path / "stranger", "stranger")
    allow = tmp_path / "allow"
    allow.mkdir()
    shutil.copy(client_public, allow / "client.key")
    feed = RobotFeedSink(
        f"zmq+tcp://0.0.0.0:0?curve_secret={server_secret}&curve_allow={allow}",
        lambda _now: {"state": "HOLD"},
        heartbeat_hz=50.0,
    )
    port = feed.last_endpoint.rsplit(":", 1)[1]
    base = f"zmq+tcp://127.0.0.1:{port}?curve_server={server_public}"
    allowed = RobotFeedReceiver(f"{base}&curve_secret={client_secret}")
    stranger = RobotFeedReceiver(f"{base}&curve_secret={stranger_secret}")
    server = JsonControlServer(
        f"zmq+tcp://0.0.0.0:0?curve_secret={server_secret}&curve_allow={allow}",
        lambda request: {"ok": True, "op": request.get("op")},
    )
    control_port = server.last_endpoint.rsplit(":", 1)[1]
    control = f"zmq+tcp://127.0.0.1:{control_port}?curve_server={server_public}"
    try:
        feed.open()
        server.open()
        assert _collect(allowed, 3)[-1]["state"] == "HOLD"
        assert stranger.recv(timeout_s=0.5) is None  # 25 heartbeats went out meanwhile
        reply = control_request(f"{control}&curve_secret={client_secret}", {"op": "stop"})
        assert reply == {"ok": True, "op": "stop"}
        with pytest.raises(TimeoutError):
            control_request(f"{control}&curve_secret={stranger_secret}", {"op": "enable"}, 0.5)
        assert server.handled == 1
    finally:
        allowed.close()
        stranger.close()
        feed.close()
        server.close()


def test_publish_is_safe_from_many_threads_and_refused_after_close() -> None:
    feed = RobotFeedSink(TCP_BIND, lambda _now: {}, heartbeat_hz=1000.0)
    try:
        feed.open()
        threads = [
            threading.Thread(target=lambda: [feed.publish("transition", {}) for _ in range(50)])
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert feed.stats()["sent"]["transition"] == 200
    finally:
        feed.close()
    with pytest.raises(RuntimeError, match="closed"):
        feed.publish("transition", {})


def test_a_watchdog_deadline_sends_a_heartbeat_before_the_fixed_rate_would() -> None:
    deadline: dict[str, int | None] = {"ns": None}
    feed = RobotFeedSink(
        TCP_BIND, lambda now: {"now_ns": now}, heartbeat_hz=0.2, watchdog_due=lambda: deadline["ns"]
    )  # one heartbeat every 5 s
    receiver = RobotFeedReceiver(f"zmq+{feed.last_endpoint}")
    try:
        feed.open()  # the first heartbeat goes out at once, the next in 5 s ...
        wait_until(lambda: feed.stats()["sent"].get("heartbeat", 0) == 1)
        deadline["ns"] = time.time_ns() + 50_000_000  # ... unless a deadline comes first
        message = receiver.recv(timeout_s=4.0)
        while message is not None and message["now_ns"] < deadline["ns"]:
            message = receiver.recv(timeout_s=4.0)  # the first heartbeat, if it was heard
        assert message is not None, "no heartbeat at the deadline"
        print(f"heartbeat {(message['now_ns'] - deadline['ns']) / 1e6:.2f} ms after its deadline")
        assert feed.stats()["sent"]["heartbeat"] == 2  # one per deadline, not a stream of them
    finally:
        receiver.close()
        feed.close()
