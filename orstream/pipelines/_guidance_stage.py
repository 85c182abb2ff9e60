"""Guidance behind the safety gate on every frame, and the robot link that publishes it
(``orstream run --robot``; docs/robot-feed.md).

:class:`GuidanceStage` turns a frame's tracked tip (``frame.results["tip"]``, or the needle tip
of ``frame.results["us"]``) and a target into a gate-judged command and puts
``frame.results["guidance"]`` (a :class:`~orstream.policies.GuidanceResult`).
:class:`RobotLink` composes it: the gate, the guidance, the feed (a
:class:`~orstream.stream.RobotFeedSink` whose heartbeats tick the gate), every gate transition
published, and the operator's control socket. It is the sink an :class:`Engine` takes as
``robot=``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from ..policies import (
    GateTransition,
    Guidance,
    GuidanceLoop,
    GuidanceObservation,
    NavPolicyGuidance,
    SafetyGate,
    load_gate_settings,
    policy_from_spec,
    transition_fields,
)
from ..sim import NAV_ENV_IDS, read_roadmap
from ..stream import (
    DEFAULT_HEARTBEAT_HZ,
    Frame,
    JsonControlServer,
    RobotFeedSink,
)
from ._results import TipResult

_LOG = logging.getLogger("orstream.robot")

DEFAULT_ROBOT_ENDPOINT: Final = "zmq+tcp://127.0.0.1:5570"
"""Where the robot feed binds by default (loopback)."""
DEFAULT_CONTROL_ENDPOINT: Final = "zmq+tcp://127.0.0.1:5571"
"""Where the operator's control socket binds by default (loopback)."""
TIP_KEYS: Final = ("tip", "us")
"""Results a tip is taken from, in this order: fluoro's tip, ultrasound's needle tip."""


def _point(value: object) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    return float(value[0]), float(value[1])


def frame_target(frame: Frame) -> tuple[float, float] | None:
    """A simulator's target in the frame's truth (``meta["truth"]["target_px"]``: [x, y])."""
    truth = frame.meta.get("truth")
    return _point(truth.get("target_px")) if isinstance(truth, dict) else None


class GuidanceStage:
    """Guidance and the gate on each frame. ``target_px`` (x, y) wins over a frame's truth
    target; with neither, guidance asks for no motion and says ``no_target``. A frame with no
    tip result, or a tip not found, is confidence 0 (the gate holds)."""

    name = "guidance"

    def __init__(
        self,
        loop: GuidanceLoop,
        *,
        target_px: tuple[float, float] | None = None,
        tip_keys: Sequence[str] = TIP_KEYS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if target_px is not None and not all(math.isfinite(v) for v in target_px):
            raise ValueError(f"target must be finite pixels (got {target_px!r})")
        self.loop, self.target_px, self.tip_keys = loop, target_px, tuple(tip_keys)
        self._clock = clock

    def __call__(self, frame: Frame) -> Frame:
        tip = self._tip(frame)
        found = tip is not None and tip.found
        observation = GuidanceObservation(
            frame_seq=frame.seq,
            t_capture_ns=frame.t_capture_ns,
            tip_px=(tip.x_px, tip.y_px) if found and tip is not None else None,
            confidence=tip.confidence if found and tip is not None else 0.0,
            target_px=self.target_px or frame_target(frame),
            spacing_mm=frame.spacing_mm,
        )
        frame.results["guidance"] = self.loop.step(observation, self._clock())
        return frame

    def _tip(self, frame: Frame) -> TipResult | None:
        for key in self.tip_keys:
            result = frame.results.get(key)
            tip = getattr(result, "needle_tip", result)
            if isinstance(tip, TipResult):
                return tip
        return None


class RobotLink:
    """The robot feed on ``endpoint`` behind the safety gate (``gate_settings``: a TOML path
    or a shipped preset name, default the shipped catheter robot), with ``guidance`` (default
    :class:`~orstream.policies.FollowTargetGuidance`) toward ``target_px``; or with
    ``policy`` (``shipped``, ``scripted`` or an ONNX path, for ``orstream/CatheterNav-v0``)
    navigating the
    ``roadmap`` file to its target (:class:`~orstream.policies.NavPolicyGuidance`).

    ``control``: the operator's REP socket (None: none); ``enable``: a simulated operator
    pedal (:class:`~orstream.policies.GuidanceLoop`'s ``pedal``: pressed once the tracking
    first looks good, then held down; any HOLD after the first ACTIVE needs a real press on
    the control socket, unless ``repress_after_ms``: then the simulated operator presses again
    once tracking has looked good that long). Endpoints bind 127.0.0.1 unless told; beyond
    the machine they need CURVE keys. A sink: ``write`` publishes the frame's command.
    ``watchdog_wake``: a heartbeat also goes out when the newest passed frame turns stale, so
    that a stall's HOLD is published then, not at the next fixed-rate heartbeat (False: the
    fixed rate only, as a plain periodic tick would).
    """

    name = "robot-link"

    def __init__(
        self,
        endpoint: str = DEFAULT_ROBOT_ENDPOINT,
        *,
        control: str | None = DEFAULT_CONTROL_ENDPOINT,
        target_px: tuple[float, float] | None = None,
        enable: bool = False,
        gate_settings: str | Path | None = None,
        guidance: Guidance | None = None,
        policy: str | None = None,
        roadmap: str | Path | None = None,
        repress_after_ms: float | None = None,
        heartbeat_hz: float = DEFAULT_HEARTBEAT_HZ,
        watchdog_wake: bool = True,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        settings = None if gate_settings is None else load_gate_settings(Path(gate_settings))
        self.gate = SafetyGate(settings)
        if (policy is None) != (roadmap is None):
            raise ValueError("a navigation policy and a roadmap go together (--policy, --roadmap)")
        if policy is not None and roadmap is not None:
            if guidance is not None or target_px is not None:
                raise ValueError(
                    "a navigation policy steers to its roadmap's target: give no guidance "
                    "and no --target with it"
                )
            nav_map = read_roadmap(roadmap)
            if policy == "random":
                raise ValueError(
                    "a random policy never drives a robot: use shipped, scripted or PATH"
                )
            axes = {axis.name: axis for axis in self.gate.settings.axes}
            guidance = NavPolicyGuidance(
                policy_from_spec(policy, NAV_ENV_IDS[0]),
                nav_map,
                axes,
                min_confidence=self.gate.settings.min_confidence,
                lookahead_s=self.gate.settings.workspace_lookahead_ms / 1000.0,
            )
            target_px = nav_map.target_px
        self.loop = GuidanceLoop(
            self.gate, guidance, pedal=enable, repress_after_ms=repress_after_ms
        )
        self.stage = GuidanceStage(self.loop, target_px=target_px, clock=clock)
        self.enable = enable
        self._clock = clock
        self.feed = RobotFeedSink(
            endpoint,
            self.loop.heartbeat,
            heartbeat_hz=heartbeat_hz,
            clock=clock,
            watchdog_due=self.loop.watchdog_due_ns if watchdog_wake else None,
        )
        try:
            self.control = (
                None
                if control is None
                else JsonControlServer(control, lambda r: self.loop.control(r, self._clock()))
            )
        except BaseException:
            self.feed.close()
            raise
        self._transitions: Counter[str] = Counter()
        self._unsubscribe = self.gate.subscribe(self._publish_transition)

    def _publish_transition(self, transition: GateTransition) -> None:
        key = (
            f"{transition.previous.value}->{transition.state.value}:{transition.reason.code.value}"
        )
        self._transitions[key] += 1
        self.feed.publish("transition", transition_fields(transition))

    def open(self) -> None:
        """Start the heartbeats and the control socket, bound at construction."""
        self.feed.open()
        if self.control is not None:
            self.control.open()
        _LOG.info(
            "robot feed on %s (%g Hz heartbeats), control on %s, operator pedal %s",
            self.feed.last_endpoint,
            self.feed.heartbeat_hz,
            "none" if self.control is None else self.control.last_endpoint,
            "simulated" if self.enable else "on the control socket",
        )

    def write(self, frame: Frame) -> None:
        self.feed.write(frame)

    def stats(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"state": self.gate.state.value, "feed": self.feed.stats()}
        doc["guidance"] = self.loop.guidance.name
        doc["transitions"] = dict(self._transitions)
        if self.loop.represses:
            doc["operator_represses"] = self.loop.represses
        if self.control is not None:
            doc["control"] = {
                "handled": self.control.handled,
                "malformed": self.control.malformed.total,
            }
        return doc

    def close(self) -> None:
        """Stop publishing and answering; idempotent."""
        self._unsubscribe()
        self.feed.close()
        if self.control is not None:
            self.control.close()
