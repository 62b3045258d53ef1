from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import DigitReceived, PlaybackFinished
from tests.flow.helpers import first, of, one_step, results, start


def test_say_renders_text_with_voice_and_ends_the_flow(tmp_path: Path) -> None:
    flow = one_step(
        tmp_path, type="say", text="Hi {{ session.destination }}", voice="en-gb", language="en-GB"
    )
    run, out = start(flow)
    speak = first(out, c.Speak)
    assert speak.text == "Hi +12025550100"
    assert (speak.voice, speak.language) == ("en-gb", "en-GB")
    out = run.handle(PlaybackFinished(speak.playback_id), 1.0)
    assert results(out) == [("only", "ok")]
    assert isinstance(out[-2], c.FlowFinished) and isinstance(out[-1], c.Hangup)
    assert run.finished


def test_say_repeats(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="say", text="again", repeat=2))
    one = first(out, c.Speak)
    two = first(run.handle(PlaybackFinished(one.playback_id), 1.0), c.Speak)
    assert two.playback_id != one.playback_id
    assert run.handle(PlaybackFinished(two.playback_id), 2.0)[-1] == c.Hangup()


def test_digit_interrupts_only_when_interruptible(tmp_path: Path) -> None:
    run, out = start(one_step(tmp_path, type="say", text="x", interruptible=True, repeat=3))
    speak = first(out, c.Speak)
    out = run.handle(DigitReceived("5"), 0.5)
    assert c.StopPlayback(speak.playback_id) in out
    assert results(out) == [("only", "interrupted")]

    run, out = start(one_step(tmp_path / ".." / tmp_path.name, type="say", text="x"))
    assert run.handle(DigitReceived("5"), 0.5) == []


def test_stale_playback_event_is_ignored(tmp_path: Path) -> None:
    run, _ = start(one_step(tmp_path, type="say", text="x"))
    assert run.handle(PlaybackFinished("playback-999"), 1.0) == []
    assert of(run.handle(PlaybackFinished("playback-999"), 1.0), c.Hangup) == []
