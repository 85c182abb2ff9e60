"""``orstream keys generate``: key files, printed paths, never overwriting a secret key.

The command runs in this process (``tests._helpers.orstream_main``): its exit code, stdout and
stderr are what a user sees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zmq.auth

from orstream.stream import ZmqFrameSender, ZmqFrameSource, make_frame
from tests._helpers import TCP_BIND, orstream_main, recv_n, uri


def _run(*argv: str) -> int:
    """``orstream keys generate ARGV``: the exit code."""
    return orstream_main("keys", "generate", *argv)


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line the command printed on stderr (and nothing on stdout)."""
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith("orstream keys: error: "), err
    return err


def test_generate_writes_a_key_pair_and_prints_the_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "keys" / "new"  # created as needed
    assert _run("--out", str(out), "--name", "device") == 0
    public, secret = out / "device.key", out / "device.key_secret"
    printed = capsys.readouterr().out
    assert str(public) in printed and str(secret) in printed
    public_key, no_secret = zmq.auth.load_certificate(str(public))
    same_public, secret_key = zmq.auth.load_certificate(str(secret))
    assert no_secret is None
    assert public_key == same_public
    assert secret_key is not None and len(secret_key) == 40  # Z85 of 32 bytes
    assert secret.stat().st_mode & 0o777 == 0o600


def test_default_name_and_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--out", str(tmp_path), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "public": str(tmp_path / "orstream.key"),
        "secret": str(tmp_path / "orstream.key_secret"),
    }


def test_refuses_to_overwrite_a_secret_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("--out", str(tmp_path), "--name", "srv") == 0
    capsys.readouterr()
    before = (tmp_path / "srv.key_secret").read_bytes(), (tmp_path / "srv.key").read_bytes()
    assert _run("--out", str(tmp_path), "--name", "srv") == 2
    message = _one_line_error(capsys)
    assert "srv.key_secret" in message and "refusing to overwrite" in message
    after = (tmp_path / "srv.key_secret").read_bytes(), (tmp_path / "srv.key").read_bytes()
    assert after == before


@pytest.mark.parametrize("name", ["", "..", "a/b", "../evil", "a\\b"])
def test_name_must_be_a_plain_file_name(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("--out", str(tmp_path), "--name", name) == 2
    assert "plain file name" in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_out_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert orstream_main("keys", "generate") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err, err


def test_generated_keys_secure_a_feed(tmp_path: Path) -> None:
    assert _run("--out", str(tmp_path), "--name", "server") == 0
    assert _run("--out", str(tmp_path / "clients"), "--name", "client") == 0
    source = ZmqFrameSource(
        TCP_BIND + f"&curve_secret={tmp_path / 'server.key_secret'}"
        f"&curve_allow={tmp_path / 'clients'}",  # the client's own folder holds client.key
        pattern="pull",
    )
    sender = ZmqFrameSender(
        uri(source.last_endpoint, curve_server=str(tmp_path / "server.key"))
        + f"&curve_secret={tmp_path / 'clients' / 'client.key_secret'}",
        pattern="push",
    )
    try:
        sender.send(make_frame(np.eye(4, dtype=np.uint8), "k", 1))
        assert recv_n(source, 1)[0].seq == 1
    finally:
        sender.close()
        source.close()


def test_the_cli_prints_the_refusal_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("--out", str(tmp_path), "--name", "x") == 0
    capsys.readouterr()
    assert _run("--out", str(tmp_path), "--name", "x") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("orstream keys: error: ") and "refusing to overwrite" in err
