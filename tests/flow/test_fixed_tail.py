"""HangupAfterPlayback: the interpreter says when a prompt's end fixes the call's end."""

from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import DigitReceived, PlaybackFinished, TimerFired
from tests.flow.helpers import first, flow_from, of, start
from tests.flow.steps.test_play import _wav


def test_say_pause_hangup_hints_before_the_prompt(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "hello": {"type": "say", "text": "hi", "next": "wait"},
            "wait": {"type": "pause", "seconds": 0.4, "next": "more"},
            "more": {"type": "pause", "seconds": 1.1, "next": "bye"},
            "bye": {"type": "hangup", "reason": "done"},
        },
    )
    run, out = start(flow)
    speak = first(out, c.Speak)
    assert c.HangupAfterPlayback(speak.playback_id, 1.5) in out
    assert out.index(c.HangupAfterPlayback(speak.playback_id, 1.5)) < out.index(speak)

    # The flow itself still walks the pauses and reaches its hangup step.
    timer = first(run.handle(PlaybackFinished(speak.playback_id), 3.0), c.SetTimer)
    timer = first(run.handle(TimerFired(timer.timer_id), 3.4), c.SetTimer)
    assert run.handle(TimerFired(timer.timer_id), 4.5)[-1] == c.Hangup("done")


def test_the_end_of_the_main_flow_counts_as_a_hang_up(tmp_path: Path) -> None:
    _wav(tmp_path / "tone.wav")
    flow = flow_from(
        tmp_path,
        {
            "hello": {"type": "play", "file": "tone.wav", "next": "wait"},
            "wait": {"type": "pause", "seconds": 2},
        },
    )
    _, out = start(flow)
    play = first(out, c.PlayAudio)
    assert of(out, c.HangupAfterPlayback) == [c.HangupAfterPlayback(play.playback_id, 2.0)]


def test_only_the_last_repeat_of_a_prompt_is_hinted(tmp_path: Path) -> None:
    flow = flow_from(tmp_path, {"hello": {"type": "say", "text": "x", "repeat": 2}})
    run, out = start(flow)
    assert of(out, c.HangupAfterPlayback) == []
    out = run.handle(PlaybackFinished(first(out, c.Speak).playback_id), 1.0)
    assert of(out, c.HangupAfterPlayback) == [
        c.HangupAfterPlayback(first(out, c.Speak).playback_id, 0.0)
    ]


def test_no_hint_when_anything_but_pauses_may_come_before_the_hang_up(tmp_path: Path) -> None:
    tails = {
        "another prompt": {"type": "say", "text": "more", "next": "bye"},
        "a gather": {"type": "gather", "max_digits": 1, "next": "bye"},
        "a webhook": {"type": "webhook", "url": "http://127.0.0.1:9/x", "next": "bye"},
    }
    for number, (what, step) in enumerate(tails.items()):
        folder = tmp_path / str(number)
        folder.mkdir()
        flow = flow_from(
            folder,
            {
                "hello": {"type": "say", "text": "hi", "next": "wait"},
                "wait": {"type": "pause", "seconds": 0.4, "next": "then"},
                "then": step,
                "bye": {"type": "hangup"},
            },
        )
        _, out = start(flow)
        assert of(out, c.HangupAfterPlayback) == [], what


def test_no_hint_for_a_prompt_a_digit_may_interrupt(tmp_path: Path) -> None:
    flow = flow_from(tmp_path, {"hello": {"type": "say", "text": "x", "interruptible": True}})
    run, out = start(flow)
    assert of(out, c.HangupAfterPlayback) == []
    assert of(run.handle(DigitReceived("1"), 0.5), c.StopPlayback)


def test_no_hint_inside_a_subflow_that_returns(tmp_path: Path) -> None:
    inner = flow_from(tmp_path, {"hi": {"type": "say", "text": "inner"}}, name="inner")
    flow = flow_from(
        tmp_path,
        {
            "call": {"type": "subflow", "flow": "inner", "next": "bye"},
            "bye": {"type": "say", "text": "outer"},
        },
    )
    run, out = start(flow, registry_lookup=lambda _: inner)
    assert of(out, c.HangupAfterPlayback) == []
    out = run.handle(PlaybackFinished(first(out, c.Speak).playback_id), 1.0)
    assert of(out, c.HangupAfterPlayback) == [
        c.HangupAfterPlayback(first(out, c.Speak).playback_id, 0.0)
    ]
