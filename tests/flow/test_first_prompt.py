"""first_prompt: the prompt a run begins with, which the worker may play on answer."""

from pathlib import Path

from engine.flow import commands as c
from engine.flow.events import SessionFacts
from engine.flow.first_prompt import FirstPrompt, first_prompt
from engine.flow.machine import FlowRun
from tests.flow.helpers import FACTS, flow_from, start
from tests.flow.steps.test_play import _wav


def test_say_then_pause_then_hangup_begins_with_its_prompt_and_tail(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "hello": {"type": "say", "text": "Hello {{ session.destination }}", "next": "wait"},
            "wait": {"type": "pause", "seconds": 0.4, "next": "bye"},
            "bye": {"type": "hangup"},
        },
    )
    _, out = start(flow)
    assert first_prompt(out) == FirstPrompt(c.Speak("playback-1", "Hello +12025550100"), 0.4)


def test_a_play_step_begins_with_its_file(tmp_path: Path) -> None:
    _wav(tmp_path / "tone.wav")
    flow = flow_from(
        tmp_path,
        {"hello": {"type": "play", "file": "tone.wav", "next": "ask"}, "ask": {"type": "hangup"}},
    )
    _, out = start(flow)
    prompt = first_prompt(out)
    assert prompt is not None
    assert prompt.command == c.PlayAudio("playback-1", str(tmp_path / "tone.wav"))
    assert prompt.playback_id == "playback-1"
    assert prompt.hangup_after == 0.0


def test_no_prompt_when_something_else_comes_first(tmp_path: Path) -> None:
    flow = flow_from(
        tmp_path,
        {
            "wait": {"type": "pause", "seconds": 1, "next": "hello"},
            "hello": {"type": "say", "text": "late"},
        },
    )
    _, out = start(flow)
    assert first_prompt(out) is None
    assert first_prompt([c.CallWebhook("w-1", "GET", "http://x"), c.Speak("p-1", "hi")]) is None
    assert first_prompt([]) is None


def test_a_rehearsal_predicts_the_real_start_unless_a_template_reads_the_answer_time(
    tmp_path: Path,
) -> None:
    steady = flow_from(tmp_path, {"hello": {"type": "say", "text": "Hi {{ session.id }}"}})
    moving = flow_from(
        tmp_path, {"hello": {"type": "say", "text": "At {{ session.answered_at }}"}}, name="m"
    )
    later = SessionFacts(**{**FACTS.__dict__, "answered_at": "2024-01-01T00:00:09Z"})
    for flow, same in ((steady, True), (moving, False)):
        rehearsed = first_prompt(FlowRun(flow, FACTS).start(0.0))
        real = first_prompt(FlowRun(flow, later).start(5.0))
        assert (rehearsed == real) is same
