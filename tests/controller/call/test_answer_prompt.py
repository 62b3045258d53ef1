"""The flow's first prompt handed to the worker with the INVITE, and prompts spoken by TTS."""

from __future__ import annotations

from pathlib import Path

from engine.controller.call.actions import RenderSpeech
from engine.events import model as em
from engine.flow.model import Flow
from engine.ipc import messages as msg
from tests.controller.call.harness import MAIN, Harness
from tests.flow.helpers import flow_from


def say_then_hang_up(tmp_path: Path, text: str = "Hello there.") -> Flow:
    return flow_from(
        tmp_path,
        {
            "hello": {"type": "say", "text": text, "next": "wait"},
            "wait": {"type": "pause", "seconds": 0.4, "next": "done"},
            "done": {"type": "hangup"},
        },
    )


def results(call: Harness) -> list[tuple[str, str]]:
    return [(e.step, e.result) for e in call.events(em.FlowStepFinished)]


def test_the_predicted_prompt_rides_with_the_invite_and_is_adopted(tmp_path: Path) -> None:
    call = Harness(flow=say_then_hang_up(tmp_path))
    call.dial_and_answer(predict=True)
    offered = call.last_sent(msg.MakeCall).answer_prompt
    assert offered == msg.AnswerPrompt(path="/tts/Hello there..wav", hangup_after_seconds=0.4)
    # The run asks for that very prompt: nothing more is sent, nothing is rendered.
    assert call.sent(msg.PlayFile) == []
    assert call.sent(msg.StopPlayback) == []
    assert not [a for a in call.actions if isinstance(a, RenderSpeech)]
    call.playback_done(msg.ANSWER_PROMPT_ID)
    assert results(call) == [("hello", "ok")]
    assert call.core._prompts.tail_armed


def test_a_run_that_begins_otherwise_stops_the_answer_prompt(tmp_path: Path) -> None:
    call = Harness(flow=say_then_hang_up(tmp_path))
    call.place(predict=True)
    call.flow = say_then_hang_up(tmp_path, "Something else.")  # the flow changed meanwhile
    call.worker(msg.CallAnswered(call_id=MAIN, answered_at=call.now))
    assert call.sent(msg.StopPlayback) == [
        msg.StopPlayback(call_id=MAIN, playback_id=msg.ANSWER_PROMPT_ID)
    ]
    assert "the flow began otherwise than predicted" in call.log()
    play = call.last_sent(msg.PlayFile)
    # The worker's prompt stops before the run's own begins.
    playbacks = call.sent(msg.StopPlayback | msg.PlayFile)  # type: ignore[arg-type]
    assert [type(m) for m in playbacks] == [msg.StopPlayback, msg.PlayFile]
    assert play.path == "/tts/Something else..wav"
    # The stopped answer prompt's end is not the run's business; its own prompt's is.
    call.playback_done(msg.ANSWER_PROMPT_ID, stopped=True)
    assert results(call) == []
    call.playback_done(play.playback_id)
    assert results(call) == [("hello", "ok")]


def test_stopping_the_adopted_prompt_stops_the_workers_answer_prompt(tmp_path: Path) -> None:
    the_flow = flow_from(
        tmp_path,
        {"menu": {"type": "gather", "prompt": {"say": "Press one."}, "max_digits": 1}},
    )
    call = Harness(flow=the_flow)
    call.dial_and_answer(predict=True)
    assert call.last_sent(msg.MakeCall).answer_prompt is not None
    call.worker(msg.DigitReceived(call_id=MAIN, digit="1"))
    assert call.last_sent(msg.StopPlayback) == msg.StopPlayback(
        call_id=MAIN, playback_id=msg.ANSWER_PROMPT_ID
    )


def test_speech_not_rendered_yet_plays_once_it_is(tmp_path: Path) -> None:
    call = Harness(flow=say_then_hang_up(tmp_path), speech_cache={})
    call.dial_and_answer()
    assert call.sent(msg.PlayFile) == []
    (speak,) = call.rendering
    call.rendered(speak.playback_id, "/cache/hello.wav")
    assert call.last_sent(msg.PlayFile).path == "/cache/hello.wav"


def test_speech_that_fails_to_render_ends_the_prompt(tmp_path: Path) -> None:
    call = Harness(flow=say_then_hang_up(tmp_path), speech_cache={})
    call.dial_and_answer()
    (speak,) = call.rendering
    call.rendered(speak.playback_id, None, "espeak-ng failed")
    assert "text to speech failed: espeak-ng failed" in call.log()
    assert call.sent(msg.PlayFile) == []
    assert results(call)[0] == ("hello", "ok")


def test_speech_stopped_while_rendering_is_not_played_later(tmp_path: Path) -> None:
    the_flow = flow_from(
        tmp_path,
        {"menu": {"type": "gather", "prompt": {"say": "Press one."}, "max_digits": 1}},
    )
    call = Harness(flow=the_flow, speech_cache={})
    call.dial_and_answer()
    (speak,) = call.rendering
    call.worker(msg.DigitReceived(call_id=MAIN, digit="1"))  # barge-in before the audio exists
    call.rendered(speak.playback_id, "/cache/press-one.wav")
    assert call.sent(msg.PlayFile) == []
    assert results(call) == [("menu", "ok")]
