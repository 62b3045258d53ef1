"""How a call ends: answered or not, and who hung up."""

from __future__ import annotations

import time

import pytest

from engine.ipc.messages import (
    CallAnswered,
    CallEnded,
    CallProgress,
    Hangup,
    InviteSent,
)
from engine.tools.sipp.runner import SippUas
from tests.support.worker_process import WorkerProcess
from tests.worker.conftest import answered_call, make_call

pytestmark = pytest.mark.sip


async def test_answered_then_remote_bye(worker: WorkerProcess) -> None:
    with SippUas(
        "uas-answer-hangup-after-delay", keys={"hangup_ms": "500"}, rtp_echo=True, calls=1
    ) as uas:
        await worker.send(make_call(uas))
        invite = await worker.wait_for(InviteSent, call_id="c1")
        ringing = await worker.wait_for(
            CallProgress, call_id="c1", where=lambda m: m.sip_code == 180
        )
        answered = await worker.wait_for(CallAnswered, call_id="c1")
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert (ended.sip_code, ended.answered, ended.remote_hangup) == (200, True, True)
        # Each on the worker's clock, as things happened: the far end hangs up 0.5 s after 200.
        assert invite.sent_at and ringing.progress_at and answered.answered_at and ended.ended_at
        assert invite.sent_at <= ringing.progress_at <= answered.answered_at
        assert 0.45 <= ended.ended_at - answered.answered_at < 2.0
        assert uas.wait(10) == 0, uas.diagnostics()


async def test_local_hangup_after_answer_sends_bye(worker: WorkerProcess) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True, calls=1) as uas:
        await answered_call(worker, uas)
        await worker.send(Hangup(call_id="c1"))
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert (ended.sip_code, ended.answered, ended.remote_hangup) == (200, True, False)
        assert uas.wait(10) == 0, uas.diagnostics()
        assert "BYE sip:" in uas.messages_text()


@pytest.mark.parametrize(
    ("scenario", "code"),
    [("uas-busy-486", 486), ("uas-decline-603", 603), ("uas-unavailable-503", 503)],
)
async def test_rejected(worker: WorkerProcess, scenario: str, code: int) -> None:
    with SippUas(scenario, calls=1) as uas:
        await worker.send(make_call(uas))
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert (ended.sip_code, ended.answered, ended.remote_hangup) == (code, False, True)
        assert not [m for m in worker.of_call("c1") if isinstance(m, CallAnswered)]
        assert uas.wait(10) == 0, uas.diagnostics()


async def test_hangup_while_ringing_cancels(worker: WorkerProcess) -> None:
    with SippUas("uas-ringing-no-answer", calls=1) as uas:
        await worker.send(make_call(uas))
        await worker.wait_for(CallProgress, call_id="c1", where=lambda m: m.sip_code == 180)
        await worker.send(Hangup(call_id="c1", sip_code=487))
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert (ended.sip_code, ended.answered, ended.remote_hangup) == (487, False, False)
        assert uas.wait(10) == 0, uas.diagnostics()
        assert "CANCEL sip:" in uas.messages_text()


async def test_early_media_is_not_an_answer(worker: WorkerProcess) -> None:
    answer_ms = 1500
    keys = {"answer_ms": str(answer_ms)}
    with SippUas("uas-early-media-183-answer", keys=keys, rtp_echo=True, calls=1) as uas:
        await worker.send(make_call(uas))
        await worker.wait_for(CallProgress, call_id="c1", where=lambda m: m.sip_code == 183)
        early_at = time.monotonic()
        await worker.wait_for(CallAnswered, call_id="c1")
        # SIPp sends the 200 only answer_ms after the 183.
        assert time.monotonic() - early_at > 0.8 * answer_ms / 1000
        await worker.send(Hangup(call_id="c1"))
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert ended.answered
        assert uas.wait(10) == 0, uas.diagnostics()
