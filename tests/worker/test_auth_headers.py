"""Digest authentication and what the INVITE carries."""

from __future__ import annotations

import re

import pytest

from engine.ipc.messages import CallAnswered, CallEnded, Hangup
from engine.tools.sipp.runner import SippUas
from tests.support.worker_process import WorkerProcess
from tests.worker.conftest import CALLER, answered_call, make_call, trunk

pytestmark = pytest.mark.sip


@pytest.mark.parametrize(
    ("scenario", "header"),
    [("uas-auth-401", "Authorization: Digest"), ("uas-auth-407", "Proxy-Authorization: Digest")],
)
async def test_challenge_answered_with_credentials(
    worker: WorkerProcess, scenario: str, header: str
) -> None:
    # uas-auth-401 checks the digest itself; uas-auth-407 only its presence (FIELD-NOTES.md).
    with SippUas(scenario, calls=1) as uas:
        await answered_call(worker, uas)
        await worker.send(Hangup(call_id="c1"))
        await worker.wait_for(CallEnded, call_id="c1")
        assert uas.wait(10) == 0, uas.diagnostics()
        assert header in uas.messages_text()


async def test_401_wrong_password_is_forbidden(worker: WorkerProcess) -> None:
    await worker.send(trunk(password="wrong"))
    with SippUas("uas-auth-401", calls=1) as uas:
        await worker.send(make_call(uas))
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert (ended.sip_code, ended.answered) == (403, False)


async def test_invite_carries_session_id_headers_and_caller_id(worker: WorkerProcess) -> None:
    with SippUas("uas-busy-486", calls=1) as uas:
        call = make_call(uas, headers={"X-Campaign": "spring", "X-Priority-Hint": "2"})
        await worker.send(call)
        await worker.wait_for(CallEnded, call_id="c1")
        assert uas.wait(10) == 0, uas.diagnostics()
        text = uas.messages_text()
    invite = text[text.index("INVITE sip:") :]
    assert f"X-Session-Id: {call.session_id}" in invite
    assert "X-Campaign: spring" in invite
    assert "X-Priority-Hint: 2" in invite
    assert re.search(rf"^From: .*sip:{re.escape(CALLER)}@", invite, re.MULTILINE)
    assert not [m for m in worker.of_call("c1") if isinstance(m, CallAnswered)]
