"""Free loopback ports for the feeds the demo and the closed loop start on this machine."""

from __future__ import annotations

import socket


def free_loopback_port(consecutive: int = 1) -> int:
    """A loopback port P with P .. P + ``consecutive`` - 1 all free when asked (frames on P,
    truth on P + 1 for a pair). OSError when none is found in 50 tries."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + consecutive - 1 > 65535:
            continue
        if all(loopback_port_free(port + k) for k in range(1, consecutive)):
            return port
    raise OSError(f"no {consecutive} consecutive free loopback ports")


def loopback_port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
