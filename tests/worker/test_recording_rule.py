"""When a recording stops by itself: its length, and the far end's silence (pure, no pjsua2
call made)."""

from __future__ import annotations

from engine.worker.media import SILENCE_LEVEL, Recording
from engine.worker.media_table import RecordingKey
from tests.support.clock import FakeClock


def started(clock: FakeClock, silence_seconds: float | None = 2.0) -> Recording:
    recording = Recording(RecordingKey("c1", "r1"), "/tmp/r.wav", 20.0, silence_seconds, clock)
    recording.began(clock.now)  # as start() does once the recorder is on the bridge
    return recording


def test_a_far_end_that_talks_keeps_the_recording_going() -> None:
    clock = FakeClock()
    recording = started(clock)
    for _ in range(50):  # 5 s of speech, longer than the 2-s silence rule
        clock.now += 0.1
        assert recording.check(SILENCE_LEVEL + 10, clock.now) is None


def test_it_stops_after_silence_seconds_of_silence_after_speech() -> None:
    clock = FakeClock()
    recording = started(clock)
    clock.now += 1.9
    assert recording.check(0, clock.now) is None  # silent from the start, not yet 2 s
    clock.now += 1.1
    assert recording.check(20, clock.now) is None
    clock.now += 1.9
    assert recording.check(0, clock.now) is None
    clock.now += 0.1
    assert recording.check(SILENCE_LEVEL - 1, clock.now) == "silence"


def test_no_audio_or_no_rule_only_the_length_stops_it() -> None:
    clock = FakeClock()
    without_rule, without_audio = started(clock, None), started(clock)
    clock.now += 10.0
    assert without_rule.check(0, clock.now) is None
    assert without_audio.check(None, clock.now) is None
    clock.now += 10.0
    assert without_audio.check(None, clock.now) == "max_length"
