"""The safety gate's operator side: deadman enable, keep-alive and release, emergency stop and
reset, repeated faults, a clock that goes backwards, the log and the subscribers
(docs/safety-gate.md). The clock is the test's."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from orstream.policies import GateCommand, GateTransition
from orstream.stream import make_frame
from tests.policies.test_policies_gate import ACTIVE, HOLD, HOME, MS, STOP, R, Scenario


def test_an_emergency_stop_latches_from_any_state_and_reset_needs_a_new_enable() -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 5.0}, frames=5)
    stop = s.gate.stop(s.now)
    assert (stop.state, stop.reason.code, stop.moving) == (STOP, R.EMERGENCY_STOP, False)
    s.wait(20)
    s.gate.keepalive(s.now)
    assert s.command({"advance": 5.0}).state is STOP
    s.gate.reset(s.now)
    s.wait(33)
    s.gate.keepalive(s.now)
    assert s.command({"advance": 5.0}).reason.code is R.NOT_ENABLED
    s.gate.enable(s.now)
    s.wait(33)
    assert s.command({"advance": 5.0}).state is ACTIVE


def test_the_deadman_expires_into_hold_and_a_keepalive_extends_it() -> None:
    s = Scenario()
    s.activate()  # enabled at T0 for 250 ms, 33 ms ago
    enabled_at = s.now - 33 * MS
    for _ in range(5):
        s.wait(33)
        s.command({"advance": 1.0})
    assert s.gate.tick(enabled_at + 250 * MS).state is ACTIVE
    expired = s.gate.tick(enabled_at + 250 * MS + 1)
    assert (expired.state, expired.reason.code) == (HOLD, R.DEADMAN_EXPIRED)
    s.now = enabled_at + 260 * MS
    assert s.gate.keepalive(s.now).reason.code is R.NOT_ENABLED  # no revival by keep-alive


def test_an_enable_lives_at_most_deadman_ttl_ms_and_a_bad_ttl_is_a_release() -> None:
    s = Scenario()
    s.gate.enable(s.now, ttl_ms=10_000.0)
    for _ in range(7):  # 7 x 33 ms <= 250 ms
        s.wait(33)
        assert s.command().state is ACTIVE
    s.wait(33)
    assert s.command().reason.code is R.DEADMAN_EXPIRED
    s.gate.enable(s.now, ttl_ms=40.0)
    s.wait(33)
    assert s.command().state is ACTIVE
    s.wait(33)
    assert s.command().reason.code is R.DEADMAN_EXPIRED
    for bad in (math.nan, -1.0, 0.0):
        assert s.gate.enable(s.now, ttl_ms=bad).reason.code is R.DEADMAN_RELEASED
        s.wait(33)
        assert s.command().reason.code is R.NOT_ENABLED


def test_after_a_fault_a_keepalive_is_not_enough_the_operator_must_press_enable() -> None:
    s = Scenario()
    s.activate()
    s.wait(33)
    s.command({"advance": 1.0}, confidence=0.1)
    for _ in range(3):
        s.wait(33)
        s.gate.keepalive(s.now)
        decision = s.command({"advance": 1.0})
        assert (decision.state, decision.reason.code) == (HOLD, R.ENABLE_NEEDED)
    s.gate.enable(s.now)
    s.wait(33)
    assert s.command({"advance": 1.0}).reason.code is R.RESUMED


def test_a_fault_between_the_enable_and_the_first_good_command_disarms() -> None:
    s = Scenario()
    s.gate.enable(s.now)
    s.wait(33)
    assert s.command(confidence=0.2).reason.code is R.LOW_CONFIDENCE
    s.wait(33)
    assert s.command().reason.code is R.ENABLE_NEEDED


def test_release_gives_hold_and_is_no_fault() -> None:
    s = Scenario()
    for _ in range(5):
        s.activate()
        s.run({"advance": 1.0}, frames=2)
        release = s.gate.release(s.now)
        assert (release.state, release.reason.code) == (HOLD, R.DEADMAN_RELEASED)
    assert s.gate.state is HOLD  # five releases, no STOP


def test_the_third_fault_within_the_window_latches_stop() -> None:
    s = Scenario()
    for trip in range(3):
        s.activate()
        s.run({"advance": 1.0}, frames=2)
        s.wait(33)
        decision = s.command({"advance": 1.0}, confidence=0.0)
        if trip < 2:
            assert decision.state is HOLD
    assert (decision.state, decision.reason.code) == (STOP, R.REPEATED_FAULTS)
    assert "low_confidence" in decision.reason.text
    assert [t.state for t in s.transitions] == [ACTIVE, HOLD, ACTIVE, HOLD, ACTIVE, STOP]


def test_faults_further_apart_than_the_window_do_not_latch_stop() -> None:
    s = Scenario()
    for _ in range(5):
        s.activate()
        s.wait(33)
        assert s.command({"advance": 1.0}, confidence=0.0).state is HOLD
        s.wait(6_000)


def test_a_clock_that_goes_backwards_gives_hold_and_old_frames_stay_old() -> None:
    s = Scenario()
    s.activate()
    s.run({"advance": 1.0}, frames=2)
    back = s.gate.tick(s.now - 5 * MS)
    assert (back.state, back.reason.code) == (HOLD, R.CLOCK_BACKWARDS)
    assert back.t_ns == s.now  # judged at the latest time seen
    assert s.gate.enable(s.now - 1).reason.code is R.CLOCK_BACKWARDS  # refused
    s.wait(33)
    assert s.command({"advance": 1.0}).reason.code is R.ENABLE_NEEDED


def test_every_transition_is_logged_without_the_stream_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orstream.policies.gate")
    s = Scenario()
    frame = make_frame(np.zeros((4, 4), np.uint8), stream_id="MRN-12345 DOE^JANE", seq=7,
                       t_capture_ns=s.now - 20 * MS)  # fmt: skip
    s.gate.enable(s.now)
    command = GateCommand.from_frame(frame, confidence=0.9, velocity={}, position=HOME)
    assert (command.frame_seq, command.t_capture_ns) == (7, frame.t_capture_ns)
    assert s.gate.submit(command, s.now).state is ACTIVE
    s.gate.stop(s.now)
    records = [r for r in caplog.records if r.name == "orstream.policies.gate"]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING]
    assert "HOLD -> ACTIVE" in records[0].getMessage()
    assert "emergency_stop" in records[1].getMessage()
    assert "MRN" not in caplog.text and "DOE" not in caplog.text


def test_subscribers_get_each_transition_and_a_failing_one_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Scenario()
    seen: list[GateTransition] = []

    def broken(transition: GateTransition) -> None:
        raise RuntimeError("feed down")

    s.gate.subscribe(broken)
    unsubscribe = s.gate.subscribe(seen.append)
    s.activate()
    s.gate.stop(s.now)
    assert [t.state for t in seen] == [ACTIVE, STOP] == [t.state for t in s.transitions]
    assert "subscriber" in caplog.text
    unsubscribe()
    s.gate.reset(s.now)
    assert len(seen) == 2 and s.transitions[-1].state is HOLD
