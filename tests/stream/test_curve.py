"""CURVE: encrypted feeds, client allow-lists, ``curve_allow=any``, the unencrypted-bind warning.

The bound side is the CURVE server; a connecting side is a client. "Receives nothing" is
checked with a bound wait while an allowed peer on the same socket gets through.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zmq

from orstream.stream import Frame, ZmqFrameSender, ZmqFrameSource, generate_keypair, make_frame
from tests._helpers import (
    TCP_BIND,
    TcpTap,
    await_subscription,
    numbered_frame,
    recv_n,
    uri,
)

MARKER = b"PLAINTEXT-MARKER"
REFUSED_SEND_WAIT_MS = 200


def send_refused(sender: ZmqFrameSender, frame: Frame) -> None:
    """Send from a peer the server refuses: after the failed handshake libzmq may hold no pipe
    to queue on, and a PUSH with no pipe blocks, so the send waits a bounded time at most."""
    sender.socket.sndtimeo = REFUSED_SEND_WAIT_MS
    with contextlib.suppress(zmq.Again):  # nothing queued: the refusal came first
        sender.send(frame)


@dataclass
class Keys:
    server_public: Path
    server_secret: Path
    client_public: Path
    client_secret: Path
    stranger_secret: Path  # a key pair nobody allowed
    allow: Path  # holds client.key only


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("curve")
    server_public, server_secret = generate_keypair(root / "server", "server")
    client_public, client_secret = generate_keypair(root / "client", "client")
    _, stranger_secret = generate_keypair(root / "stranger", "stranger")
    allow = root / "allow"
    allow.mkdir()
    shutil.copy(client_public, allow / "client.key")
    return Keys(server_public, server_secret, client_public, client_secret, stranger_secret, allow)


def _server(keys: Keys, allow: str | Path, pattern: str = "pull") -> ZmqFrameSource:
    return ZmqFrameSource(
        TCP_BIND + f"&curve_secret={keys.server_secret}&curve_allow={allow}", pattern=pattern
    )


def _marked_frame(seq: int) -> Frame:
    pixels = np.frombuffer(MARKER * 256, np.uint8).reshape(64, 64)
    return make_frame(pixels, "secret-stream", seq)


@pytest.fixture
def server(keys: Keys) -> Iterator[ZmqFrameSource]:
    source = _server(keys, keys.allow)
    yield source
    source.close()


def test_key_files_are_zeromq_certificates(keys: Keys) -> None:
    assert keys.server_public.name == "server.key"
    assert keys.server_secret.name == "server.key_secret"
    assert "secret-key" not in keys.server_public.read_text()
    assert "secret-key" in keys.server_secret.read_text()
    assert keys.server_secret.stat().st_mode & 0o777 == 0o600


def test_allowed_client_frames_arrive_encrypted_end_to_end(
    keys: Keys, server: ZmqFrameSource
) -> None:
    port = int(server.last_endpoint.rsplit(":", 1)[1])
    tap = TcpTap(port)
    sender = ZmqFrameSender(
        f"zmq+tcp://127.0.0.1:{tap.port}?curve_server={keys.server_public}"
        f"&curve_secret={keys.client_secret}",
        pattern="push",
    )
    try:
        sent = _marked_frame(1)
        sender.send(sent)
        got = recv_n(server, 1)[0]
        np.testing.assert_array_equal(got.pixels, sent.pixels)
        assert got.stream_id == "secret-stream"
        wire = tap.captured()
        assert len(wire) > 4096  # the frame went through the tap...
        assert MARKER not in wire  # ...and neither its pixels
        assert b"secret-stream" not in wire and b"t_capture_ns" not in wire  # nor its header
        assert b"CURVE" in wire[:64]  # the ZMTP greeting names the mechanism
    finally:
        sender.close()
        tap.close()


def test_the_tap_would_see_an_unencrypted_frame() -> None:
    """The control for the test above: without CURVE the marker is on the wire."""
    source = ZmqFrameSource(TCP_BIND, pattern="pull")
    tap = TcpTap(int(source.last_endpoint.rsplit(":", 1)[1]))
    sender = ZmqFrameSender(f"zmq+tcp://127.0.0.1:{tap.port}", pattern="push")
    try:
        sender.send(_marked_frame(1))
        recv_n(source, 1)
        assert MARKER in tap.captured()
    finally:
        sender.close()
        tap.close()
        source.close()


def test_a_client_not_in_the_allow_list_sends_nothing(keys: Keys, server: ZmqFrameSource) -> None:
    stranger = ZmqFrameSender(
        uri(server.last_endpoint, curve_server=str(keys.server_public))
        + f"&curve_secret={keys.stranger_secret}",
        pattern="push",
    )
    client = ZmqFrameSender(
        uri(server.last_endpoint, curve_server=str(keys.server_public))
        + f"&curve_secret={keys.client_secret}",
        pattern="push",
    )
    try:
        for seq in range(5):
            send_refused(stranger, numbered_frame(seq, "stranger"))
        client.send(numbered_frame(0, "client"))  # sent after the stranger's, arrives alone
        got = recv_n(server, 1)
        assert [(f.stream_id, f.seq) for f in got] == [("client", 0)]
        assert server.recv(timeout_s=0.5) is None  # nothing from the stranger, bounded wait
        assert server.stats()["received"] == 1
    finally:
        stranger.socket.linger = 0  # its frames can never be delivered
        stranger.close()
        client.close()


def test_a_client_without_curve_gets_nothing_through(keys: Keys, server: ZmqFrameSource) -> None:
    plain = ZmqFrameSender(uri(server.last_endpoint), pattern="push")
    try:
        send_refused(plain, numbered_frame(0))
        assert server.recv(timeout_s=0.5) is None
        assert server.stats()["malformed"] == 0  # refused in the handshake, not as a message
    finally:
        plain.socket.linger = 0
        plain.close()


def test_a_subscriber_not_in_the_allow_list_receives_nothing(keys: Keys) -> None:
    publisher = ZmqFrameSender(
        TCP_BIND + f"&curve_secret={keys.server_secret}&curve_allow={keys.allow}",
        pattern="pub",
        hwm=1000,
    )
    connect = uri(publisher.last_endpoint, curve_server=str(keys.server_public))
    stranger = ZmqFrameSource(connect + f"&curve_secret={keys.stranger_secret}", pattern="sub")
    client = ZmqFrameSource(connect + f"&curve_secret={keys.client_secret}", pattern="sub")
    try:
        await_subscription(
            lambda k: publisher.send(numbered_frame(k, "probe", (2, 2))), client
        )  # the stranger connected first: it has had every chance to get these too
        for seq in range(3):
            publisher.send(numbered_frame(seq))
        assert [f.seq for f in recv_n(client, 3)] == [0, 1, 2]
        assert stranger.recv(timeout_s=0.5) is None
        assert stranger.stats()["received"] == 0
    finally:
        stranger.close()
        client.close()
        publisher.close()


def test_curve_allow_any_admits_a_throwaway_client_key(keys: Keys) -> None:
    source = _server(keys, "any")
    sender = ZmqFrameSender(
        uri(source.last_endpoint, curve_server=str(keys.server_public)), pattern="push"
    )  # no curve_secret: a fresh key pair
    try:
        sender.send(numbered_frame(4))
        assert recv_n(source, 1)[0].seq == 4
    finally:
        sender.close()
        source.close()


def test_a_client_with_the_wrong_server_key_gets_nothing_through(keys: Keys) -> None:
    source = _server(keys, "any")
    sender = ZmqFrameSender(
        uri(source.last_endpoint, curve_server=str(keys.client_public)), pattern="push"
    )
    try:
        send_refused(sender, numbered_frame(0))
        assert source.recv(timeout_s=0.5) is None
    finally:
        sender.socket.linger = 0
        sender.close()
        source.close()


def test_bound_tcp_beyond_loopback_without_curve_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="orstream.stream")
    source = ZmqFrameSource("zmq+tcp://*:0", pattern="pull")
    source.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "orstream.stream"]
    assert len(warnings) == 1
    assert "without CURVE encryption" in warnings[0]
    assert "curve_secret" in warnings[0]  # says how to fix it


@pytest.mark.parametrize(
    "endpoint", [TCP_BIND, "zmq+tcp://localhost:0?bind=1", "zmq+ipc://{tmp}/feed.sock?bind=1"]
)
def test_loopback_and_ipc_binds_do_not_warn(
    endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orstream.stream")
    try:
        source = ZmqFrameSource(endpoint.format(tmp=tmp_path), pattern="pull")
    except ValueError:  # localhost may not be bindable by name on every system
        pytest.skip(f"cannot bind {endpoint}")
    source.close()
    assert not [r for r in caplog.records if r.name == "orstream.stream"]


def test_curve_bound_beyond_loopback_does_not_warn(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="orstream.stream")
    source = ZmqFrameSource(
        f"zmq+tcp://*:0?curve_secret={keys.server_secret}&curve_allow=any", pattern="pull"
    )
    source.close()
    assert not [r for r in caplog.records if r.name == "orstream.stream"]


@pytest.mark.timeout(60)
def test_bad_curve_settings_raise_value_errors_promptly(keys: Keys, tmp_path: Path) -> None:
    secret = f"curve_secret={keys.server_secret}"
    with pytest.raises(ValueError, match="curve_allow"):
        ZmqFrameSource(f"{TCP_BIND}&{secret}", pattern="pull")
    with pytest.raises(ValueError, match="not a folder"):
        ZmqFrameSource(f"{TCP_BIND}&{secret}&curve_allow={tmp_path / 'nope'}", pattern="pull")
    with pytest.raises(ValueError, match="no secret key"):
        ZmqFrameSource(
            f"{TCP_BIND}&curve_secret={keys.server_public}&curve_allow=any", pattern="pull"
        )
    with pytest.raises(ValueError, match="cannot read CURVE key file"):
        ZmqFrameSender(
            f"zmq+tcp://127.0.0.1:9?curve_server={tmp_path / 'missing.key'}", pattern="push"
        )
    taken = ZmqFrameSource(TCP_BIND, pattern="pull")
    try:  # a bind that fails after the authenticator started (this once hung in term())
        with pytest.raises(ValueError, match="cannot open"):
            ZmqFrameSource(
                uri(taken.last_endpoint, bind="1", curve_secret=str(keys.server_secret))
                + "&curve_allow=any",
                pattern="pull",
            )
    finally:
        taken.close()


def test_curve_options_on_the_wrong_side_are_errors_not_silent_plaintext(keys: Keys) -> None:
    """A half-configured CURVE would quietly send plaintext: refuse it instead."""
    with pytest.raises(ValueError, match="needs curve_server"):
        ZmqFrameSender(f"zmq+tcp://127.0.0.1:9?curve_secret={keys.server_secret}", pattern="push")
    with pytest.raises(ValueError, match="curve_allow needs curve_secret"):
        ZmqFrameSource(f"{TCP_BIND}&curve_allow=any", pattern="pull")
    with pytest.raises(ValueError, match="for the bound side"):
        ZmqFrameSender("zmq+tcp://127.0.0.1:9?curve_allow=any", pattern="push")
    with pytest.raises(ValueError, match="for the connecting side"):
        ZmqFrameSource(f"{TCP_BIND}&curve_server={keys.server_public}", pattern="pull")
