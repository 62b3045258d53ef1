"""Every session outcome, through the real engine, real pjsua2 workers and real SIPp."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.api.app import create_app
from engine.api.keys import KeyStore
from engine.sessions.model import CallState, Outcome
from engine.tools.sipp.runner import SippUas
from tests.support.engine import engine_config, messages, running, wait_for_end, wait_until

pytestmark = pytest.mark.sip

DESTINATION = "+18144043093"


async def place(
    tmp_path: Path,
    scenario: str,
    *,
    flow: str = "greeting",
    trunk: dict[str, Any] | None = None,
    keys: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[Any, str]:
    with SippUas(scenario, rtp_echo=True, keys=keys) as uas:
        config = engine_config(tmp_path, uas.port, trunk=trunk)
        async with running(config) as engine:
            created = await engine.create_outgoing_session(flow, DESTINATION, "+12025550143")
            session = await wait_for_end(engine, created.id, timeout)
        return session, uas.messages_text()


async def test_answered_call_runs_the_flow_and_completes(tmp_path: Path) -> None:
    session, sip = await place(
        tmp_path, "uas-answer-echo-wait-bye", trunk={"headers": {"X-Engine": "voice-engine"}}
    )
    assert session.outcome is Outcome.COMPLETED
    assert session.call_state is CallState.DISCONNECTED
    log = messages(session)
    answered = log.index("answered")
    assert any(m.startswith("INVITE sent") for m in log[:answered])
    assert any("(say) started" in m for m in log[answered:])
    assert f"X-Session-Id: {session.id}" in sip
    assert "X-Engine: voice-engine" in sip  # the trunk's extra headers
    assert "From: <sip:+12025550143@" in sip or "From: sip:+12025550143@" in sip


async def test_busy(tmp_path: Path) -> None:
    session, _ = await place(tmp_path, "uas-busy-486")
    assert (session.outcome, session.sip_code) == (Outcome.BUSY, 486)
    assert session.sip_reason
    assert "answered" not in messages(session)


async def test_declined_is_rejected(tmp_path: Path) -> None:
    session, _ = await place(tmp_path, "uas-decline-603")
    assert (session.outcome, session.sip_code) == (Outcome.REJECTED, 603)


async def test_unavailable_is_failed_with_code(tmp_path: Path) -> None:
    session, _ = await place(tmp_path, "uas-unavailable-503")
    assert (session.outcome, session.sip_code) == (Outcome.FAILED, 503)


async def test_ring_timeout_sends_cancel_and_is_no_answer(tmp_path: Path) -> None:
    session, sip = await place(tmp_path, "uas-ringing-no-answer", trunk={"ring_timeout_seconds": 1})
    assert session.outcome is Outcome.NO_ANSWER
    assert "CANCEL sip:" in sip
    assert any(m.startswith("ringing (180") for m in messages(session))


async def test_delete_before_answer_cancels(tmp_path: Path) -> None:
    with SippUas("uas-ringing-no-answer") as uas:
        async with running(engine_config(tmp_path, uas.port)) as engine:
            created = await engine.create_outgoing_session("greeting", DESTINATION, None)
            await wait_until(
                lambda: any(m.startswith("ringing") for m in messages(created)), what="ringing"
            )
            await engine.end_session(created.id)
            session = await wait_for_end(engine, created.id)
        assert "CANCEL sip:" in uas.messages_text()
    assert session.outcome is Outcome.CANCELED
    assert session.from_address in ("+12025550143", "+12025550144")


async def test_early_media_does_not_start_the_flow(tmp_path: Path) -> None:
    session, _ = await place(tmp_path, "uas-early-media-183-answer")
    log = messages(session)
    assert session.outcome is Outcome.COMPLETED
    assert log.index("answered") < next(i for i, m in enumerate(log) if "(say) started" in m)
    assert any(m.startswith("ringing (183") for m in log)


async def test_remote_hangup_mid_flow_completes(tmp_path: Path) -> None:
    session, _ = await place(tmp_path, "uas-answer-hangup-after-delay", keys={"hangup_ms": "500"})
    assert session.outcome is Outcome.COMPLETED
    assert any(m.startswith("hang-up by far end") for m in messages(session))


@pytest.mark.parametrize(
    ("password", "outcome", "sip_code"),
    [("secret", Outcome.COMPLETED, 200), ("wrong", Outcome.FAILED, 403)],
)
async def test_digest_401(tmp_path: Path, password: str, outcome: Outcome, sip_code: int) -> None:
    session, sip = await place(
        tmp_path,
        "uas-auth-401",
        trunk={"username": "alice", "password": password},
    )
    assert session.outcome is outcome
    assert "Authorization: Digest" in sip
    assert session.sip_code == sip_code


async def test_proxy_auth_407(tmp_path: Path) -> None:
    session, sip = await place(
        tmp_path, "uas-auth-407", trunk={"username": "alice", "password": "secret"}
    )
    assert session.outcome is Outcome.COMPLETED
    assert "Proxy-Authorization: Digest" in sip


async def test_request_uri_without_plus(tmp_path: Path) -> None:
    _, sip = await place(tmp_path, "uas-busy-486", trunk={"plus_in_request_uri": False})
    assert "INVITE sip:18144043093@127.0.0.1" in sip


async def test_delete_through_the_api_cancels_a_ringing_call(tmp_path: Path) -> None:
    with SippUas("uas-ringing-no-answer") as uas:
        async with running(engine_config(tmp_path, uas.port)) as engine:
            keys = KeyStore(":memory:")
            key = keys.create(["Manager"], name="ops")
            transport = httpx.ASGITransport(app=create_app(engine, keys))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://engine",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                response = await client.post(
                    "/sessions/outgoing",
                    json={"flowId": "greeting", "numberToDial": DESTINATION},
                )
                assert response.status_code == 200, response.text
                session_id = response.json()["id"]
                await wait_until(
                    lambda: (
                        (s := engine.get_session(session_id)) is not None
                        and s.call_state is CallState.RINGING
                        and any(m.startswith("ringing") for m in messages(s))
                    ),
                    what="ringing",
                )
                deleted = await client.delete(f"/sessions/{session_id}")
                assert deleted.status_code == 200, deleted.text
                await wait_for_end(engine, session_id)
                final = (await client.get(f"/sessions/{session_id}.xml")).text
                missing = await client.delete("/sessions/no-such-session")
        assert "CANCEL sip:" in uas.messages_text()
    assert "<Outcome>canceled</Outcome>" in final
    assert "<CallState>Disconnected</CallState>" in final
    assert missing.status_code == 404


async def test_maximum_call_duration_hangs_up(tmp_path: Path) -> None:
    session, sip = await place(
        tmp_path, "uas-answer-echo-wait-bye", trunk={"max_call_duration_seconds": 1}
    )
    assert session.outcome is Outcome.COMPLETED
    log = messages(session)
    assert any("maximum call duration of 1 s reached" in m for m in log)
    assert session.date_answered is not None and session.date_completed is not None
    assert (session.date_completed - session.date_answered).total_seconds() < 3
    assert "BYE sip:" in sip


async def test_trunk_registers_before_calling(tmp_path: Path) -> None:
    session, sip = await place(
        tmp_path,
        "uas-register-and-answer",
        trunk={"register": True, "username": "alice", "password": "secret"},
    )
    assert session.outcome is Outcome.COMPLETED
    register = sip.index("REGISTER sip:127.0.0.1:")
    assert register < sip.index("INVITE sip:")


async def test_tcp_trunk(tmp_path: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True, transport="tcp") as uas:
        config = engine_config(tmp_path, uas.port, trunk={"transport": "tcp"})
        async with running(config) as engine:
            created = await engine.create_outgoing_session("greeting", DESTINATION, None)
            session = await wait_for_end(engine, created.id)
        sip = uas.messages_text()
    assert session.outcome is Outcome.COMPLETED
    assert "INVITE sip:+18144043093@127.0.0.1:" in sip
    assert "SIP/2.0/TCP" in sip


async def test_tls_trunk(tmp_path: Path) -> None:
    # Debian's SIPp is built without OpenSSL: a minimal TLS far end that answers 486.
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    requests: list[str] = []

    async def far_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                length = re.search(r"(?im)^content-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                requests.append(head)
                if head.startswith("INVITE"):
                    keep = [
                        line
                        for line in head.split("\r\n")
                        if line.split(":")[0].lower() in ("via", "from", "call-id", "cseq")
                    ]
                    to = next(line for line in head.split("\r\n") if line.lower().startswith("to:"))
                    reply = ["SIP/2.0 486 Busy Here", *keep, f"{to};tag=tls1", "Content-Length: 0"]
                    writer.write(("\r\n".join(reply) + "\r\n\r\n").encode())
                    await writer.drain()

    server = await asyncio.start_server(far_end, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        config = engine_config(tmp_path, port, trunk={"transport": "tls"})
        async with running(config) as engine:
            created = await engine.create_outgoing_session("greeting", DESTINATION, None)
            session = await wait_for_end(engine, created.id)
    assert (session.outcome, session.sip_code) == (Outcome.BUSY, 486), messages(session)
    assert requests[0].startswith("INVITE sips:+18144043093@127.0.0.1:")
    assert "SIP/2.0/TLS" in requests[0]
    assert any(r.startswith("ACK ") for r in requests)
