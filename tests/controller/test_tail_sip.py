"""A prompt that fixes the call's end: the worker hangs up by itself when the flow's pauses are
over (HangupAfterPlayback), so a busy controller does not stretch the call. Real engine, real
pjsua2 workers, real SIPp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.controller.call import CallDriver
from engine.controller.call import core as call_core
from engine.controller.call.actions import TimerKey, TimerKind
from engine.controller.pool import WorkerHandle
from engine.ipc import messages as msg
from engine.sessions.model import Outcome, Session
from engine.tools.sipp.runner import SippUas
from tests.support.engine import DESTINATION, engine_config, messages, running, wait_for_end

pytestmark = pytest.mark.sip

LOADTEST_FLOWS = Path(__file__).resolve().parents[2] / "engine" / "tools" / "loadtest" / "flows"
"""loadtest-3s: say (2.6 s), pause 0.4 s, hang up."""


def late_flow_timers(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every flow timer fires `seconds` late, as on a controller far behind its work."""
    start_timer = CallDriver._start_timer

    def late(self: CallDriver, key: TimerKey, deadline: float) -> None:
        start_timer(self, key, deadline + seconds if key.kind is TimerKind.FLOW else deadline)

    monkeypatch.setattr(CallDriver, "_start_timer", late)


def sent_to_workers(monkeypatch: pytest.MonkeyPatch) -> list[msg.Message]:
    sent: list[msg.Message] = []
    send = WorkerHandle.send

    def recording(self: WorkerHandle, message: msg.Message) -> None:
        sent.append(message)
        send(self, message)

    monkeypatch.setattr(WorkerHandle, "send", recording)
    return sent


async def place(tmp_path: Path) -> tuple[Session, Any]:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        config = engine_config(tmp_path, uas.port, flows_dir=LOADTEST_FLOWS)
        async with running(config) as engine:
            created = await engine.create_outgoing_session("loadtest-3s", DESTINATION, None)
            session = await wait_for_end(engine, created.id, timeout=30)
    assert session.date_answered is not None and session.date_completed is not None
    return session, (session.date_completed - session.date_answered).total_seconds()


async def test_the_worker_hangs_up_when_the_pauses_are_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    late_flow_timers(monkeypatch, 60)
    sent = sent_to_workers(monkeypatch)

    session, talk_seconds = await place(tmp_path)

    assert session.outcome is Outcome.COMPLETED
    assert 2.9 <= talk_seconds < 10
    assert not [m for m in sent if isinstance(m, msg.Hangup)]
    log = messages(session)
    in_order = [
        "step wait (pause) started: 0.4 s",
        "step wait (pause) finished: ok",
        "step done (hangup) started",
        "flow finished: completed",
        "hanging up: load test done",
    ]
    assert [line for line in log if line in in_order] == in_order
    assert log.index("hanging up: load test done") < next(
        i for i, line in enumerate(log) if line.startswith("hang-up by engine: 200")
    )


async def test_the_controller_hangs_up_when_the_worker_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tail goes with the prompt: a PlayFile, or the MakeCall's answer prompt.
    for name in ("PlayFile", "AnswerPrompt"):
        message_type = getattr(msg, name)

        def without_tail(message_type: Any = message_type, **fields: Any) -> Any:
            return message_type(**{**fields, "hangup_after_seconds": None})

        monkeypatch.setattr(msg, name, without_tail)
    monkeypatch.setattr(call_core, "TAIL_HANGUP_GRACE_SECONDS", 0.5)

    session, talk_seconds = await place(tmp_path)

    assert session.outcome is Outcome.COMPLETED
    assert talk_seconds < 10
    log = messages(session)
    assert "the worker has not hung up: sending the hang-up" in log
    assert log.index("hanging up: load test done") < log.index(
        "the worker has not hung up: sending the hang-up"
    )
