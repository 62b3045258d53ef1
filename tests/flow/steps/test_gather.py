from pathlib import Path
from typing import Any

from engine.flow import commands as c
from engine.flow.events import DigitReceived, PlaybackFinished, TimerFired
from engine.flow.machine import FlowRun
from tests.flow.helpers import FACTS, first, flow_from, of, results, start


def _gather(tmp_path: Path, **options: Any) -> FlowRun:
    flow = flow_from(
        tmp_path,
        {
            "ask": {
                "type": "gather",
                "next": "ok",
                "no_input": "silent",
                "no_match": "bad",
                **options,
            },
            "ok": {"type": "set", "variables": {"went": "ok"}},
            "silent": {"type": "set", "variables": {"went": "silent"}},
            "bad": {"type": "set", "variables": {"went": "bad"}},
        },
    )
    return FlowRun(flow, FACTS)


def test_prompt_is_interrupted_by_the_first_digit(tmp_path: Path) -> None:
    run = _gather(tmp_path, max_digits=3, prompt={"say": "Enter your code"})
    speak = first(run.start(0.0), c.Speak)
    out = run.handle(DigitReceived("1"), 1.0)
    assert c.StopPlayback(speak.playback_id) in out
    assert first(out, c.SetTimer).deadline == 4.0  # inter-digit timeout
    run.handle(DigitReceived("2"), 2.0)
    out = run.handle(DigitReceived("3"), 2.5)  # max_digits reached
    assert results(out)[0] == ("ask", "ok")
    assert run.variables["digits"] == "123" and run.variables["went"] == "ok"
    assert of(out, c.CancelTimer)


def test_finish_key_and_inter_digit_timeout(tmp_path: Path) -> None:
    run = _gather(tmp_path, max_digits=5, variable="pin")
    timer = first(run.start(0.0), c.SetTimer)
    assert timer.deadline == 5.0  # first-digit timeout
    run.handle(DigitReceived("7"), 1.0)
    run.handle(DigitReceived("#"), 1.5)
    assert run.variables["pin"] == "7" and run.variables["pin_status"] == "ok"

    run = _gather(tmp_path, max_digits=5, min_digits=1)
    run.start(0.0)
    timer = first(run.handle(DigitReceived("4"), 1.0), c.SetTimer)
    run.handle(TimerFired(timer.timer_id), timer.deadline)
    assert run.variables["digits"] == "4"


def test_no_input_retries_then_branches(tmp_path: Path) -> None:
    run = _gather(tmp_path, retries=1, prompt={"say": "first"}, retry_prompt={"say": "again"})
    speak = first(run.start(0.0), c.Speak)
    assert speak.text == "first"
    timer = first(run.handle(PlaybackFinished(speak.playback_id), 1.0), c.SetTimer)
    out = run.handle(TimerFired(timer.timer_id), 6.0)
    again = first(out, c.Speak)
    assert again.text == "again"
    timer = first(run.handle(PlaybackFinished(again.playback_id), 7.0), c.SetTimer)
    out = run.handle(TimerFired(timer.timer_id), 12.0)
    assert results(out)[0] == ("ask", "no_input")
    assert run.variables["went"] == "silent" and run.variables["digits_status"] == "no_input"


def test_pattern_and_min_digits_make_no_match(tmp_path: Path) -> None:
    run = _gather(tmp_path, retries=0, max_digits=1, pattern="[12]")
    run.start(0.0)
    out = run.handle(DigitReceived("9"), 1.0)
    assert results(out)[0] == ("ask", "no_match")
    assert run.variables["went"] == "bad"

    run = _gather(tmp_path, retries=0, min_digits=3, max_digits=4)
    run.start(0.0)
    run.handle(DigitReceived("1"), 1.0)
    run.handle(DigitReceived("#"), 1.1)
    assert run.variables["went"] == "bad"


def test_digits_before_the_gather_are_not_taken_without_barge_in(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "hello": {"type": "say", "text": "hi", "next": "ask"},
            "ask": {"type": "gather", "retries": 0},
        },
    )
    run, out = start(flow)
    assert run.handle(DigitReceived("1"), 0.1) == []
    out = run.handle(PlaybackFinished(first(out, c.Speak).playback_id), 1.0)
    timer = first(out, c.SetTimer)
    out = run.handle(TimerFired(timer.timer_id), timer.deadline)
    assert results(out)[-1] == ("ask", "no_input")
