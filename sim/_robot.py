"""A simulated robot on the robot feed (docs/robot-feed.md, "The simulated robot").

:class:`SimRobot` subscribes to a feed, moves its axes at the commanded velocities (advance
in mm, rotate in rad for the shipped catheter robot) and keeps its own watchdog: with no
message at all (heartbeats included) for ``timeout_ms`` it halts, whatever it was told last.
It honours a command only from a ``command`` or ``heartbeat`` message whose ``state`` is
``ACTIVE``; any message in another state zeroes every axis. Times are the robot's own clock
(``time.monotonic_ns`` unless injected), never the feed's.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..stream import RobotFeedReceiver

_LOG = logging.getLogger("orstream.sim.robot")
_UNIT_SUFFIXES: Final = ("_mm_s", "_rad_s")
DEFAULT_TIMEOUT_MS: Final = 150.0
"""Silence (no message of any kind) after which the robot halts on its own: three 20 Hz
heartbeats, as MoveIt Servo's 100 ms plus a margin for one late message."""


@dataclass(frozen=True, slots=True)
class HaltEvent:
    """The robot halted by its own watchdog at ``t_ns`` (its clock: the last message's time
    plus the timeout), noticed at ``detected_ns``, at ``pose`` (axis -> position)."""

    t_ns: int
    detected_ns: int
    pose: Mapping[str, float]
    reason: str


def parse_command(command: object) -> dict[str, float] | None:
    """``{"advance_mm_s": 2.0, "rotate_rad_s": 0.1}`` -> ``{"advance": 2.0, "rotate": 0.1}``;
    None when it is not an object of finite numbers under ``AXIS_mm_s`` / ``AXIS_rad_s``."""
    if not isinstance(command, dict):
        return None
    velocity = {}
    for key, value in command.items():
        suffix = next((s for s in _UNIT_SUFFIXES if str(key).endswith(s)), None)
        if suffix is None or len(key) == len(suffix):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            return None
        velocity[key[: -len(suffix)]] = float(value)
    return velocity


class SimRobot:
    """A robot that follows the feed at ``endpoint`` (None: no socket; feed it with
    :meth:`handle` and :meth:`check`, as tests do with injected times).

    ``start_position``: axis -> position at start. ``on_pose(pose)`` is called after every
    change of motion; ``on_halt(event)`` at every halt by the watchdog (both on the robot's
    thread). :meth:`start` runs the receive thread. ``halted`` is True before the first
    message and from a watchdog halt until the next message; after a halt the next message
    is taken whatever its ``seq`` (a restarted feed counts from 1 again).
    """

    def __init__(
        self,
        endpoint: str | None,
        *,
        start_position: Mapping[str, float] | None = None,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
        clock: Callable[[], int] = time.monotonic_ns,
        on_pose: Callable[[dict[str, float]], None] | None = None,
        on_halt: Callable[[HaltEvent], None] | None = None,
    ) -> None:
        if not (timeout_ms > 0 and math.isfinite(timeout_ms)):
            raise ValueError(f"timeout_ms must be > 0 and finite (got {timeout_ms!r})")
        self.timeout_ns = round(timeout_ms * 1e6)
        self._clock = clock
        self.on_pose, self.on_halt = on_pose, on_halt
        self._pose = {k: float(v) for k, v in (start_position or {}).items()}
        self._velocity: dict[str, float] = {}
        self._pose_t: int | None = None
        self._last_message_ns: int | None = None
        self._last_seq: int | None = None
        self.halted = True
        self.halts: list[HaltEvent] = []
        self.ignored: Counter[str] = Counter()
        self.messages = 0
        self.last_state: str | None = None
        self._lock = threading.Lock()
        self._receiver = None if endpoint is None else RobotFeedReceiver(endpoint)
        self._malformed = 0  # the receiver's count, kept when it closes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pose(self) -> dict[str, float]:
        """Position per axis (mm, rad), up to now."""
        with self._lock:
            self._integrate(self._clock())
            return dict(self._pose)

    def velocity(self) -> dict[str, float]:
        """The velocity the robot moves at now, per axis (unit/s)."""
        with self._lock:
            return dict(self._velocity)

    def handle(self, message: Mapping[str, Any], now_ns: int) -> None:
        """Take one feed message (an envelope-checked JSON object) at robot time ``now_ns``."""
        with self._lock:
            seq = message.get("seq")
            if not isinstance(seq, int) or (
                not self.halted and self._last_seq is not None and seq <= self._last_seq
            ):
                self.ignored["repeated"] += 1
                return
            self._last_seq = seq
            self.messages += 1
            self._last_message_ns = now_ns
            self.halted = False
            self._integrate(now_ns)
            state = message.get("state")
            self.last_state = state if isinstance(state, str) else None
            parsed = parse_command(message.get("command"))
            for axis in parsed or {}:
                self._pose.setdefault(axis, 0.0)  # the axes the feed names
            if state != "ACTIVE":
                velocity: dict[str, float] = {}
            elif message.get("kind") == "transition":
                return  # into ACTIVE: the next command says how to move
            else:
                if parsed is None:
                    self.ignored["bad_command"] += 1
                velocity = parsed or {}
            changed = velocity != self._velocity
            self._velocity = velocity
            pose = dict(self._pose)
        if changed and self.on_pose is not None:
            self.on_pose(pose)

    def check(self, now_ns: int) -> HaltEvent | None:
        """The watchdog at robot time ``now_ns``: halts (and returns the event) when no
        message came for longer than the timeout."""
        with self._lock:
            last = self._last_message_ns
            if self.halted or last is None or now_ns - last <= self.timeout_ns:
                return None
            halt_t = last + self.timeout_ns
            self._integrate(halt_t)
            moving = any(v != 0.0 for v in self._velocity.values())
            self._velocity = {}
            self.halted = True
            event = HaltEvent(
                halt_t,
                now_ns,
                dict(self._pose),
                f"no feed message for {self.timeout_ns / 1e6:g} ms"
                + (" while moving" if moving else ""),
            )
            self.halts.append(event)
        _LOG.warning("simulated robot halted: %s", event.reason)
        if self.on_halt is not None:
            self.on_halt(event)
        if self.on_pose is not None:
            self.on_pose(dict(event.pose))
        return event

    def _integrate(self, now_ns: int) -> None:
        if self._pose_t is not None and now_ns > self._pose_t:
            dt_s = (now_ns - self._pose_t) / 1e9
            for axis, velocity in self._velocity.items():
                self._pose[axis] = self._pose.get(axis, 0.0) + velocity * dt_s
        if self._pose_t is None or now_ns > self._pose_t:
            self._pose_t = now_ns

    def start(self) -> SimRobot:
        """Receive on a thread until :meth:`close` (needs an endpoint); returns self."""
        if self._receiver is None:
            raise ValueError("this SimRobot has no endpoint to receive from")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sim-robot", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        receiver = self._receiver
        if receiver is None:
            return
        poll_s = min(0.005, self.timeout_ns / 4e9)
        while not self._stop.is_set():
            message = receiver.recv(timeout_s=poll_s)
            if message is not None:
                self.handle(message, self._clock())
            self.check(self._clock())

    def stats(self) -> dict[str, Any]:
        receiver = self._receiver
        malformed = self._malformed if receiver is None else receiver.malformed.total
        return {
            "messages": self.messages,
            "ignored": dict(self.ignored),
            "malformed": malformed,
            "halts": len(self.halts),
        }

    def close(self) -> None:
        """Stop the thread and close the socket; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._receiver is not None:
            self._malformed = self._receiver.malformed.total
            self._receiver.close()
            self._receiver = None

    def __enter__(self) -> SimRobot:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
