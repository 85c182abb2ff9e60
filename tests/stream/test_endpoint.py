"""Endpoint URIs: bind rules, tcp and ipc, options, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orstream.stream import Endpoint, parse_endpoint


@pytest.mark.parametrize(
    ("uri", "address", "bind"),
    [
        ("zmq+tcp://*:5555", "tcp://*:5555", True),
        ("zmq+tcp://127.0.0.1:5555", "tcp://127.0.0.1:5555", False),
        ("zmq+tcp://device.local:5555", "tcp://device.local:5555", False),
        ("zmq+tcp://127.0.0.1:5555?bind=1", "tcp://127.0.0.1:5555", True),
        ("zmq+tcp://127.0.0.1:5555?bind=true", "tcp://127.0.0.1:5555", True),
        ("zmq+tcp://*:5555?bind=0", "tcp://*:5555", False),
        ("zmq+tcp://10.1.2.3:5555?bind=false", "tcp://10.1.2.3:5555", False),
        ("zmq+tcp://127.0.0.1:0?bind=1", "tcp://127.0.0.1:0", True),
        ("zmq+tcp://127.0.0.1:65535", "tcp://127.0.0.1:65535", False),
        ("zmq+tcp://127.0.0.1:05555", "tcp://127.0.0.1:5555", False),
        ("tcp://*:5555", "tcp://*:5555", True),  # the zmq+ prefix is optional
        ("ZMQ+TCP://*:5555", "tcp://*:5555", True),  # schemes are case-insensitive
        ("zmq+ipc:///tmp/orstream/us.sock", "ipc:///tmp/orstream/us.sock", False),
        ("zmq+ipc:///tmp/orstream/us.sock?bind=1", "ipc:///tmp/orstream/us.sock", True),
        ("zmq+ipc://relative/feed.sock", "ipc://relative/feed.sock", False),
        ("zmq+ipc://@abstract-feed?bind=1", "ipc://@abstract-feed", True),
        ("ipc:///tmp/x", "ipc:///tmp/x", False),
    ],
)
def test_address_and_bind_rules(uri: str, address: str, bind: bool) -> None:
    endpoint = parse_endpoint(uri)
    assert endpoint == Endpoint(address=address, bind=bind)


@pytest.mark.parametrize("pattern", ["pub", "sub", "push", "pull"])
def test_pattern_option(pattern: str) -> None:
    assert parse_endpoint(f"zmq+tcp://*:5555?pattern={pattern}").pattern == pattern


def test_curve_options_are_paths_or_any() -> None:
    server = parse_endpoint(
        "zmq+tcp://*:5555?curve_secret=keys/server.key_secret&curve_allow=keys/clients"
    )
    assert server.bind
    assert server.curve_secret == Path("keys/server.key_secret")
    assert server.curve_allow == "keys/clients"
    assert server.curve_server is None
    client = parse_endpoint(
        "zmq+tcp://10.0.0.7:5555?curve_server=keys/server.key&curve_secret=/etc/c.key_secret"
    )
    assert not client.bind
    assert client.curve_server == Path("keys/server.key")
    assert client.curve_secret == Path("/etc/c.key_secret")
    assert parse_endpoint("zmq+tcp://*:1?curve_allow=any").curve_allow == "any"


@pytest.mark.parametrize(("text", "shm"), [("1", True), ("true", True), ("0", False)])
def test_shm_option(text: str, shm: bool) -> None:
    assert parse_endpoint(f"zmq+ipc:///tmp/feed?bind=1&shm={text}").shm is shm
    assert parse_endpoint("zmq+ipc:///tmp/feed").shm is False


def test_blank_options_mean_unset_and_the_last_repeat_wins() -> None:
    endpoint = parse_endpoint("zmq+tcp://*:1?curve_secret=&curve_allow=&pattern=sub&pattern=pub")
    assert endpoint.curve_secret is None
    assert endpoint.curve_allow is None
    assert endpoint.pattern == "pub"
    assert parse_endpoint("zmq+tcp://*:1?bind=1&bind=0").bind is False


@pytest.mark.parametrize(
    ("uri", "loopback"),
    [
        ("zmq+tcp://127.0.0.1:5555?bind=1", True),
        ("zmq+tcp://localhost:5555?bind=1", True),
        ("zmq+ipc:///tmp/feed.sock?bind=1", True),
        ("zmq+tcp://*:5555", False),
        ("zmq+tcp://0.0.0.0:5555?bind=1", False),
        ("zmq+tcp://192.168.1.20:5555?bind=1", False),
        ("zmq+tcp://eth0:5555?bind=1", False),
    ],
)
def test_is_loopback_or_ipc(uri: str, loopback: bool) -> None:
    assert parse_endpoint(uri).is_loopback_or_ipc is loopback


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://127.0.0.1:5555", "scheme"),
        ("zmq+udp://127.0.0.1:5555", "scheme"),
        ("zmq+inproc://name", "scheme"),
        ("127.0.0.1:5555", "scheme"),
        ("", "scheme"),
        ("zmq+tcp://127.0.0.1", "HOST:PORT"),
        ("zmq+tcp://:5555", "HOST:PORT"),
        ("zmq+tcp://127.0.0.1:", "HOST:PORT"),
        ("zmq+tcp://127.0.0.1:port", "HOST:PORT"),
        ("zmq+tcp://127.0.0.1:-1", "HOST:PORT"),
        ("zmq+tcp://127.0.0.1:65536", "HOST:PORT"),
        ("zmq+ipc://", "PATH"),
        ("zmq+tcp://*:5555?bnd=1", "unknown option"),
        ("zmq+tcp://*:5555?topic=x", "unknown option"),
        ("zmq+tcp://*:5555?bind=2", "bind"),
        ("zmq+tcp://*:5555?bind=", "bind"),
        ("zmq+tcp://*:5555?bind=yes", "bind"),
        ("zmq+tcp://*:5555?pattern=req", "pattern"),
        ("zmq+tcp://*:5555?pattern=PUB", "pattern"),
        ("zmq+tcp://*:5555?shm=yes", "shm"),
        ("zmq+tcp://127.0.0.1:5555/frames", "no path"),
    ],
)
def test_bad_uris_raise_one_line_value_errors(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_endpoint(uri)
    assert "\n" not in str(info.value)
    assert repr(uri) in str(info.value)
