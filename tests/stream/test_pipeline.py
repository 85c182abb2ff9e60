"""The pipeline runtime: traces, per-path stats, newest-frame live path, lossless recording,
stage and sink lifecycles."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from orstream.stream import (
    Frame,
    IterableSource,
    PacedSource,
    Pipeline,
    ZmqFrameSender,
    ZmqFrameSource,
    make_frame,
)
from tests._helpers import FAILURE_BOUND_S, wait_until


class ListSink:
    """Keeps what it is given (an in-memory fake sink)."""

    def __init__(self, name: str = "list") -> None:
        self.name = name
        self.frames: list[Frame] = []
        self.closed = False

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed = True


class Invert:
    name = "invert"

    def __call__(self, frame: Frame) -> Frame:
        return make_frame(
            255 - frame.pixels, frame.stream_id, frame.seq, t_capture_ns=frame.t_capture_ns
        )


class FailOnOdd:
    name = "fail_on_odd"

    def __call__(self, frame: Frame) -> Frame:
        if frame.seq % 2:
            raise ValueError("odd frame")
        return frame


class Slow:
    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, frame: Frame) -> Frame:
        time.sleep(self.seconds)
        return frame


class HoldFirst:
    """A stage slower than its source by a condition, not a clock: it holds the first frame
    until ``ready()`` (the source has delivered what the test sent), then passes frames on."""

    name = "slow"

    def __init__(self, ready: Callable[[], bool]) -> None:
        self.ready = ready
        self.held = False

    def __call__(self, frame: Frame) -> Frame:
        if not self.held:
            self.held = True
            wait_until(self.ready)
        return frame


def _stop_when(pipeline: Pipeline, done: Callable[[], bool]) -> None:
    """Stop ``pipeline`` once ``done()`` holds (polled), or after the failure bound."""

    def watch() -> None:
        try:
            wait_until(done)
        finally:
            pipeline.stop_event.set()

    threading.Thread(target=watch, daemon=True).start()


def _shown(sink: ListSink, stream: str) -> list[int]:
    return [f.seq for f in sink.frames if f.stream_id == stream]


def _frames(n: int, stream: str = "s", shape: tuple[int, ...] = (8, 8)) -> list[Frame]:
    return [make_frame(np.full(shape, i % 256, np.uint8), stream, i) for i in range(n)]


def test_stages_run_in_order_and_stamp_the_trace() -> None:
    sink = ListSink()
    pipeline = Pipeline(IterableSource(_frames(5)), [Invert(), Slow(0.0)], [sink], live=False)
    summary = pipeline.run()
    assert [f.seq for f in sink.frames] == [0, 1, 2, 3, 4]
    assert all(int(f.pixels[0, 0]) == 255 - f.seq for f in sink.frames)
    assert [name for name, _ in sink.frames[0].trace] == ["invert", "slow"]
    stamps = [t for _, t in sink.frames[0].trace]
    assert stamps == sorted(stamps)
    process = summary["paths"]["process"]
    assert process["frames"] == 5
    assert process["latency_ms"]["p50"] <= process["latency_ms"]["p99"]
    assert set(process["stages_ms"]) == {"invert", "slow"}
    assert sink.closed


def test_a_failing_stage_drops_that_frame_and_the_pipeline_goes_on() -> None:
    sink = ListSink()
    summary = Pipeline(IterableSource(_frames(10)), [FailOnOdd()], [sink], live=False).run()
    assert [f.seq for f in sink.frames] == [0, 2, 4, 6, 8]
    assert summary["paths"]["process"]["drops"]["error:fail_on_odd"] == 5


def test_offline_recorder_sees_every_frame_even_those_a_stage_drops() -> None:
    recorder = ListSink("record")
    Pipeline(IterableSource(_frames(6)), [FailOnOdd()], [], recorder=recorder, live=False).run()
    assert [f.seq for f in recorder.frames] == list(range(6))


def test_live_path_keeps_newest_while_recording_path_is_lossless() -> None:
    """A stage still busy with a frame when newer ones arrive makes the live path drop the
    stale ones; the recorder still gets them all."""
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="pull")
    sender = ZmqFrameSender("zmq+" + source.last_endpoint, pattern="push")
    recorder, display = ListSink("record"), ListSink("display")
    n = 200
    # the first frame stays in the stage until every frame has reached the recorder
    stage = HoldFirst(lambda: len(recorder.frames) >= n)
    pipeline = Pipeline(source, [stage], [display], recorder=recorder)
    frames = _frames(n, shape=(256, 256))  # 64 KiB: the zero-copy path
    for frame in frames:
        sender.send(frame)
    _stop_when(pipeline, lambda: _shown(display, "s")[-1:] == [n - 1])
    summary = pipeline.run(duration_s=FAILURE_BOUND_S * 2)
    sender.close()
    assert [f.seq for f in recorder.frames] == list(range(n))
    pairs = zip(recorder.frames, frames, strict=True)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in pairs)
    live = summary["paths"]["live"]
    assert live["frames"] == len(display.frames)
    shown = [f.seq for f in display.frames]
    assert shown == sorted(shown) and shown[-1] == n - 1
    # the held frame and the newest: everything that came in between was stale
    assert len(shown) <= 2 and live["drops"]["stale"] >= n - 2
    assert live["frames"] + live["drops"]["stale"] == n
    assert summary["paths"]["record"]["frames"] == n


def test_live_path_serves_every_stream_not_just_the_busiest() -> None:
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="pull")
    sender = ZmqFrameSender("zmq+" + source.last_endpoint, pattern="push")
    display = ListSink("display")
    sent = 0
    for i in range(100):
        sender.send(make_frame(np.zeros((4, 4), np.uint8), "busy", i))
        sent += 1
        if i % 20 == 0:
            sender.send(make_frame(np.zeros((4, 4), np.uint8), "quiet", i // 20))
            sent += 1
    ended = threading.Event()

    def keep_busy() -> None:  # the busy stream never pauses: its newest frame keeps changing
        seq = 100
        while not ended.is_set():
            sender.send(make_frame(np.zeros((4, 4), np.uint8), "busy", seq))
            seq += 1
            time.sleep(0.001)

    # the stage is busy with the first frame until the first 105 frames have arrived: then
    # the quiet stream's last frame waits while the busy stream keeps sending newer ones
    stage = HoldFirst(lambda: source.received >= sent)
    pipeline = Pipeline(source, [stage], [display])
    _stop_when(
        pipeline,
        lambda: _shown(display, "quiet")[-1:] == [4] and _shown(display, "busy")[-1:] >= [99],
    )
    feeder = threading.Thread(target=keep_busy, daemon=True)
    feeder.start()
    try:
        summary = pipeline.run(duration_s=FAILURE_BOUND_S * 2)
    finally:
        ended.set()
        feeder.join()
    sender.socket.linger = 0  # the pipeline is gone: what is still queued has nowhere to go
    sender.close()
    quiet, busy = _shown(display, "quiet"), _shown(display, "busy")
    assert quiet and quiet[-1] == 4 and quiet == sorted(set(quiet))
    assert busy and busy[-1] >= 99 and busy == sorted(set(busy))
    live = summary["paths"]["live"]
    assert live["frames"] == len(display.frames) and live["drops"]["stale"] > 0


class BatchRecorder:
    """A batch stage that notes the size of every call; drops the frames of seq ``drop``,
    raises on a batch holding seq ``bad`` (and on that frame alone)."""

    name = "batcher"

    def __init__(self, drop: int = -1, bad: int = -1) -> None:
        self.drop, self.bad = drop, bad
        self.sizes: list[int] = []

    def __call__(self, frame: Frame) -> Frame | None:
        return self.batch([frame])[0]

    def batch(self, frames: list[Frame]) -> list[Frame | None]:
        if any(f.seq == self.bad for f in frames):
            raise ValueError("bad frame")
        self.sizes.append(len(frames))
        return [None if f.seq == self.drop else f for f in frames]


def test_a_batch_stage_gets_the_waiting_frames_together_and_order_is_kept() -> None:
    sink, batcher = ListSink(), BatchRecorder(drop=5)
    pipeline = Pipeline(
        IterableSource(_frames(10)), [batcher, Slow(0.0)], [sink], live=False, max_batch=4
    )
    summary = pipeline.run()
    assert batcher.sizes == [4, 4, 2]
    assert [f.seq for f in sink.frames] == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert all([n for n, _ in f.trace] == ["recv", "batcher", "slow"] for f in sink.frames)
    assert summary["paths"]["process"]["drops"]["filtered:batcher"] == 1
    assert summary["paths"]["process"]["frames"] == 9


def test_a_failing_batch_drops_only_its_bad_frame() -> None:
    sink, batcher = ListSink(), BatchRecorder(bad=2)
    summary = Pipeline(IterableSource(_frames(8)), [batcher], [sink], live=False, max_batch=4).run()
    assert [f.seq for f in sink.frames] == [0, 1, 3, 4, 5, 6, 7]
    assert summary["paths"]["process"]["drops"]["error:batcher"] == 1
    assert batcher.sizes == [1, 1, 1, 4]  # the failed batch was retried frame by frame


def test_batches_stop_at_max_frames_and_plain_stages_never_batch() -> None:
    sink, batcher = ListSink(), BatchRecorder()
    Pipeline(IterableSource(_frames(10)), [batcher], [sink], live=False).run(max_frames=3)
    assert batcher.sizes == [3] and len(sink.frames) == 3
    assert Pipeline(IterableSource(_frames(2)), [Invert()], live=False).max_batch == 1


class InFlight:
    """A stage that notes, per call, the frames in it at once (all streams, and per stream),
    holding each frame ``seconds``; optionally fails on one stream's frames. With
    ``await_overlap`` a call first waits (up to the failure bound, once) until frames of two
    streams are in the stage at once, so that overlap is a condition, not a race. ``done``
    lists (stream, seq) of every call that finished (before a failure is raised)."""

    name = "in_flight"

    def __init__(self, seconds: float, fail_stream: str = "", await_overlap: bool = False) -> None:
        self.seconds, self.fail_stream = seconds, fail_stream
        self.now: dict[str, int] = {}
        self.most_total = self.most_per_stream = 0
        self.lock = threading.Lock()
        self.overlapped = threading.Event()
        self.await_overlap = await_overlap
        self.done: list[tuple[str, int]] = []

    def __call__(self, frame: Frame) -> Frame:
        with self.lock:
            self.now[frame.stream_id] = self.now.get(frame.stream_id, 0) + 1
            self.most_total = max(self.most_total, sum(self.now.values()))
            self.most_per_stream = max(self.most_per_stream, self.now[frame.stream_id])
            if self.most_total >= 2:
                self.overlapped.set()
        if self.await_overlap and not self.overlapped.wait(FAILURE_BOUND_S):
            self.await_overlap = False  # never: fail in the assertions, not by hanging
        time.sleep(self.seconds)
        with self.lock:
            self.now[frame.stream_id] -= 1
            self.done.append((frame.stream_id, frame.seq))
        if frame.stream_id == self.fail_stream:
            raise ValueError("a bad stream")
        return frame


def _send_streams(
    sender: ZmqFrameSender,
    streams: int,
    frames: int,
    period_s: float,
    until: threading.Event | None = None,
) -> None:
    """``frames`` frames of each of ``streams`` streams, one round every ``period_s`` (a
    device's pacing); stops early once ``until`` is set."""
    for i in range(frames):
        if until is not None and until.is_set():
            return
        for k in range(streams):
            sender.send(make_frame(np.full((4, 4), i % 256, np.uint8), f"s{k}", i))
        time.sleep(period_s)


def test_workers_run_frames_of_different_streams_at_once_and_keep_each_in_order() -> None:
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="pull")
    sender = ZmqFrameSender("zmq+" + source.last_endpoint, pattern="push")
    stage = InFlight(0.02, await_overlap=True)
    display, recorder = ListSink("display"), ListSink("record")
    pipeline = Pipeline(source, [stage], [display], recorder=recorder, workers=3)
    feeder = threading.Thread(target=_send_streams, args=(sender, 3, 20, 0.03), daemon=True)
    feeder.start()
    # done once each stream's last frame is shown (the newest frame always is, in the end)
    _stop_when(pipeline, lambda: all(_shown(display, f"s{k}")[-1:] == [19] for k in range(3)))
    summary = pipeline.run(duration_s=FAILURE_BOUND_S * 2)
    feeder.join()
    sender.close()
    assert stage.most_total >= 2  # the streams overlapped in the stage
    assert stage.most_per_stream == 1  # never two frames of one stream at once
    for k in range(3):
        shown = _shown(display, f"s{k}")
        assert shown == sorted(set(shown)) and shown[-1] == 19, shown
    live = summary["paths"]["live"]
    assert live["frames"] == len(display.frames)
    assert live["frames"] + live["drops"]["stale"] == 60  # nothing lost but stale frames
    assert len(recorder.frames) == 60


def test_a_stream_failing_at_a_worker_does_not_stop_the_others() -> None:
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="pull")
    sender = ZmqFrameSender("zmq+" + source.last_endpoint, pattern="push")
    display = ListSink("display")
    stage = InFlight(0.0, fail_stream="s1")
    pipeline = Pipeline(source, [stage], [display], workers=2)
    _send_streams(sender, 2, 10, 0.0)
    # done once s0's last frame is shown and s1's last frame has failed in the stage
    _stop_when(pipeline, lambda: ("s1", 9) in stage.done and _shown(display, "s0")[-1:] == [9])
    summary = pipeline.run(duration_s=FAILURE_BOUND_S * 2)
    sender.close()
    assert {f.stream_id for f in display.frames} == {"s0"}
    assert _shown(display, "s0")[-1] == 9
    live = summary["paths"]["live"]
    failed = sum(stream == "s1" for stream, _ in stage.done)
    assert failed >= 1 and live["drops"]["error:in_flight"] == failed
    assert live["frames"] + live["drops"]["stale"] + failed == 20  # every frame accounted for


def test_workers_stop_at_max_frames_and_need_a_live_source() -> None:
    source = ZmqFrameSource("zmq+tcp://127.0.0.1:0?bind=1", pattern="pull")
    sender = ZmqFrameSender("zmq+" + source.last_endpoint, pattern="push")
    display = ListSink("display")
    pipeline = Pipeline(source, [InFlight(0.005)], [display], workers=2)
    ended = threading.Event()  # the device sends until the pipeline has ended, however slow
    feeder = threading.Thread(
        target=_send_streams, args=(sender, 2, 100_000, 0.01, ended), daemon=True
    )
    feeder.start()
    try:
        summary = pipeline.run(max_frames=10, duration_s=FAILURE_BOUND_S * 2)
    finally:
        ended.set()
        feeder.join()
    sender.socket.linger = 0  # the pipeline is gone: what is still queued has nowhere to go
    sender.close()
    assert summary["paths"]["live"]["frames"] == len(display.frames) == 10
    with pytest.raises(ValueError, match=r"needs a live source.*IterableSource is not live"):
        Pipeline(IterableSource(_frames(2)), [Invert()], workers=2)
    with pytest.raises(ValueError, match="needs a live source"):
        Pipeline(_paced(2), [Invert()], live=False, workers=2)
    with pytest.raises(ValueError, match="at least 1"):
        Pipeline(IterableSource(_frames(2)), [Invert()], live=False, workers=0)


# --- live by the source's word, paced sources ------------------------------------------------


def _paced(n: int, fps: float = 200.0, stream: str = "p") -> PacedSource:
    return PacedSource([np.full((4, 4), i, np.uint8) for i in range(n)], fps, stream_id=stream)


def test_live_defaults_to_what_the_source_says() -> None:
    assert not Pipeline(IterableSource(_frames(2))).live
    offline = Pipeline(IterableSource(_frames(3))).run()
    assert set(offline["paths"]) == {"process"} and offline["paths"]["process"]["frames"] == 3
    paced = Pipeline(_paced(3))
    assert paced.live
    assert paced.run()["paths"]["live"]["frames"] >= 1
    forced = Pipeline(_paced(3), live=False)
    assert not forced.live and forced.run()["paths"]["process"]["frames"] == 3


def test_a_paced_live_source_with_a_slow_stage_drops_stale_frames_never_goes_back() -> None:
    """Frames come every 5 ms and the stage keeps each frame until the source has emitted
    the next three (a stage slower than the source, by a condition rather than a clock): the
    live path keeps the newest, in order, ends with the clip's last frame; the recorder still
    gets every frame."""
    n = 30
    display, recorder = ListSink("display"), ListSink("record")
    source = _paced(n)

    class SlowerThanTheSource:
        name = "slow"

        def __call__(self, frame: Frame) -> Frame:
            # once seq+3 is emitted, seq+1 and seq+2 have been offered: seq+1 went stale
            wait_until(lambda: source.emitted >= min(frame.seq + 4, n))
            return frame

    pipeline = Pipeline(source, [SlowerThanTheSource()], [display], recorder=recorder)
    summary = pipeline.run()  # ends by itself when the clip has played
    shown = [f.seq for f in display.frames]
    assert shown == sorted(set(shown)) and shown[-1] == n - 1
    live = summary["paths"]["live"]
    assert live["drops"]["stale"] > 0
    assert live["frames"] + live["drops"]["stale"] == n
    assert [f.seq for f in recorder.frames] == list(range(n))


@pytest.mark.timeout(60)
def test_workers_over_a_finite_live_source_end_with_it() -> None:
    display = ListSink("display")
    summary = Pipeline(_paced(20), [InFlight(0.002)], [display], workers=2).run()
    shown = [f.seq for f in display.frames]
    assert shown == sorted(set(shown)) and shown[-1] == 19
    assert summary["paths"]["live"]["frames"] + summary["paths"]["live"]["drops"]["stale"] == 20


# --- stage and sink lifecycles ---------------------------------------------------------------


class Lifecycle:
    """A stage or sink that notes its open, first frame and close in a shared log."""

    def __init__(self, name: str, log: list[tuple[str, str]], fail: str = "") -> None:
        self.name, self.log, self.fail = name, log, fail

    def open(self) -> None:
        self.log.append(("open", self.name))
        if self.fail == "open":
            raise RuntimeError(f"{self.name} cannot open")

    def __call__(self, frame: Frame) -> Frame:
        if ("frame", self.name) not in self.log:
            self.log.append(("frame", self.name))
        return frame

    def write(self, frame: Frame) -> None:
        self(frame)

    def close(self) -> None:
        self.log.append(("close", self.name))
        if self.fail == "close":
            raise RuntimeError(f"{self.name} cannot close")


def test_stages_and_sinks_open_before_the_first_frame_and_close_after_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, str]] = []
    stages = [Lifecycle("a", log, fail="close"), Invert(), Lifecycle("b", log)]
    recorder, sink = Lifecycle("rec", log), Lifecycle("out", log)
    with caplog.at_level(logging.ERROR, logger="orstream.stream"):
        Pipeline(IterableSource(_frames(3)), stages, [sink], recorder=recorder).run()
    assert log == [
        ("open", "a"),
        ("open", "b"),
        ("open", "rec"),
        ("open", "out"),
        ("frame", "rec"),
        ("frame", "a"),
        ("frame", "b"),
        ("frame", "out"),
        ("close", "rec"),
        ("close", "out"),
        ("close", "a"),
        ("close", "b"),  # after a's close raised
    ]
    assert "closing a failed: a cannot close" in caplog.text


def test_an_open_that_fails_closes_what_was_opened_and_reaches_the_caller() -> None:
    log: list[tuple[str, str]] = []
    source = _paced(5)
    stages = [Lifecycle("a", log), Lifecycle("b", log, fail="open"), Lifecycle("c", log)]
    pipeline = Pipeline(source, stages, [Lifecycle("out", log)])
    with pytest.raises(RuntimeError, match="b cannot open"):
        pipeline.run()
    assert log == [("open", "a"), ("open", "b"), ("close", "out"), ("close", "a")]
    assert source.exhausted and source.emitted == 0  # closed before a frame was drawn
