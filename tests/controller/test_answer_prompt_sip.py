"""The flow's first prompt travels with the INVITE and the worker plays it on answer, without a
round trip through the controller (MakeCall.answer_prompt). Real engine, real pjsua2 workers,
real SIPp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.controller.call import driver as call_driver
from engine.flow import commands as cmd
from engine.flow.first_prompt import FirstPrompt
from engine.ipc import messages as msg
from engine.sessions.model import Outcome, Session
from engine.tools.sipp.runner import SippUas
from tests.controller.test_tail_sip import LOADTEST_FLOWS, sent_to_workers
from tests.support.audio import tone_wav  # noqa: F401  (a fixture)
from tests.support.engine import DESTINATION, engine_config, messages, running, wait_for_end

pytestmark = pytest.mark.sip

STEPS_IN_ORDER = [
    "step hello (say) started: This is a load test call from voice engine.",
    "step hello (say) finished: ok",
    "step wait (pause) started: 0.4 s",
    "flow finished: completed",
]


async def two_calls(tmp_path: Path, **workers: Any) -> list[Session]:
    """Two loadtest-3s calls one after the other: the second finds the speech rendered."""
    sessions = []
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        config = engine_config(tmp_path, uas.port, flows_dir=LOADTEST_FLOWS, workers=workers)
        async with running(config) as engine:
            for _ in range(2):
                created = await engine.create_outgoing_session("loadtest-3s", DESTINATION, None)
                sessions.append(await wait_for_end(engine, created.id, timeout=30))
    return sessions


def talk_seconds(session: Session) -> float:
    assert session.date_answered is not None and session.date_completed is not None
    return (session.date_completed - session.date_answered).total_seconds()


def main_leg(session: Session, sent: list[msg.Message], kind: type[Any]) -> list[Any]:
    return [m for m in sent if isinstance(m, kind) and m.call_id == f"{session.id}.a"]


async def test_the_worker_plays_the_first_prompt_on_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = sent_to_workers(monkeypatch)

    _, second = await two_calls(tmp_path)

    assert second.outcome is Outcome.COMPLETED
    assert 2.9 <= talk_seconds(second) < 10
    (make_call,) = main_leg(second, sent, msg.MakeCall)
    assert make_call.answer_prompt is not None
    assert make_call.answer_prompt.hangup_after_seconds == 0.4
    assert Path(make_call.answer_prompt.path).is_file()
    assert main_leg(second, sent, msg.PlayFile) == []
    assert main_leg(second, sent, msg.StopPlayback) == []
    log = messages(second)
    assert [line for line in log if line in STEPS_IN_ORDER] == STEPS_IN_ORDER
    assert "the flow began otherwise than predicted" not in log


async def test_a_wrong_prediction_stops_the_answer_prompt_and_plays_the_flows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tone_wav: Path,  # noqa: F811
) -> None:
    # As if a template had read something that changed by the answer: the rehearsal's first
    # prompt is a 1-s tone, the real run's the 2.6-s speech.
    monkeypatch.setattr(
        call_driver,
        "first_prompt",
        lambda _commands: FirstPrompt(cmd.PlayAudio("playback-1", str(tone_wav)), 0.4),
    )
    sent = sent_to_workers(monkeypatch)

    first, second = await two_calls(tmp_path)

    for session in (first, second):
        assert session.outcome is Outcome.COMPLETED
        # Not cut short by the tone's end or its stop: the flow's speech played to its end.
        assert 2.9 <= talk_seconds(session) < 10
        (make_call,) = main_leg(session, sent, msg.MakeCall)
        assert make_call.answer_prompt == msg.AnswerPrompt(
            path=str(tone_wav), hangup_after_seconds=0.4
        )
        stops = main_leg(session, sent, msg.StopPlayback)
        assert [s.playback_id for s in stops] == [msg.ANSWER_PROMPT_ID]
        (play,) = main_leg(session, sent, msg.PlayFile)
        assert (play.playback_id, play.hangup_after_seconds) == ("playback-1", 0.4)
        log = messages(session)
        assert "the flow began otherwise than predicted" in log
        assert [line for line in log if line in STEPS_IN_ORDER] == STEPS_IN_ORDER


async def test_answer_prompts_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = sent_to_workers(monkeypatch)

    _, second = await two_calls(tmp_path, answer_prompt=False)

    assert second.outcome is Outcome.COMPLETED
    (make_call,) = main_leg(second, sent, msg.MakeCall)
    assert make_call.answer_prompt is None
    (play,) = main_leg(second, sent, msg.PlayFile)
    assert (play.playback_id, play.hangup_after_seconds) == ("playback-1", 0.4)
