"""SIGTERM to `voice-engine serve` drains: new requests get 503, live calls finish or are hung
up at the drain deadline, then the process exits 0."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import yaml

from engine.api.keys import KeyStore
from engine.sessions.model import Outcome
from engine.sessions.store import SessionStore
from engine.tools.serve_process import ServeProcess
from engine.tools.sipp.ports import free_tcp_port
from engine.tools.sipp.runner import SippUas
from tests.support.engine import DESTINATION, HOLD_FLOW, engine_config, hold_flows

pytestmark = pytest.mark.sip

SHORT_FLOW = HOLD_FLOW.replace("seconds: 60", "seconds: 1")
DRAIN_SECONDS = 3.0


async def poll(http: httpx.AsyncClient, session_id: str, state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(f"/sessions/{session_id}")
        if response.status_code == 200 and response.json()["callState"] == state:
            return
        assert time.monotonic() < deadline, f"{session_id} never reached {state}"
        await asyncio.sleep(0.05)


async def test_sigterm_drains_live_calls_and_refuses_new_ones(tmp_path: Path) -> None:
    flows = hold_flows(tmp_path, short=SHORT_FLOW)
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        port = free_tcp_port()
        config = engine_config(
            tmp_path,
            uas.port,
            flows_dir=flows,
            http={"host": "127.0.0.1", "port": port},
            drain_seconds=DRAIN_SECONDS,
        )
        config_file = tmp_path / "engine.yaml"
        config_file.write_text(yaml.safe_dump(config.model_dump(mode="json", by_alias=True)))
        keys = KeyStore(config.store.path)
        key = keys.create(["Manager"], "manager")
        keys.close()
        serve = ServeProcess(config_file, f"http://127.0.0.1:{port}", tmp_path / "serve.log")
        await asyncio.to_thread(serve.start)
        try:
            async with httpx.AsyncClient(
                base_url=serve.base_url,
                headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
                timeout=5,
            ) as http:
                assert (await http.get("/ready")).status_code == 200
                ids = {}
                for flow in ("hold", "short"):
                    response = await http.post(
                        "/sessions/outgoing", json={"flowId": flow, "numberToDial": DESTINATION}
                    )
                    assert response.status_code == 200, response.text
                    ids[flow] = response.json()["id"]
                for session_id in ids.values():
                    await poll(http, session_id, "Connected", 10)
                serve.terminate()
                sigterm_at = time.monotonic()
                # While draining, the API is up, not ready, and refuses new calls.
                while (await http.get("/ready")).status_code != 503:
                    assert time.monotonic() - sigterm_at < 2, "SIGTERM did not start the drain"
                    await asyncio.sleep(0.01)
                refused = await http.post(
                    "/sessions/outgoing", json={"flowId": "short", "numberToDial": DESTINATION}
                )
                assert refused.status_code == 503, refused.text
                assert "Retry-After" in refused.headers
            returncode = await asyncio.to_thread(serve.wait, DRAIN_SECONDS + 15)
            stopped_after = time.monotonic() - sigterm_at
        finally:
            serve.close(timeout=0)
    assert returncode == 0, serve.log_tail()
    assert stopped_after >= DRAIN_SECONDS - 0.5
    store = SessionStore(config.store.path)
    try:
        short = store.get(ids["short"])
        hold = store.get(ids["hold"])
    finally:
        store.close()
    assert short is not None and hold is not None
    # The short call ended by itself during the drain; the long one was hung up at the deadline.
    assert short.outcome is Outcome.COMPLETED
    assert any("flow finished" in entry.message for entry in short.log)
    assert hold.outcome is Outcome.COMPLETED
    assert any("hanging up" in entry.message for entry in hold.log)
    assert hold.date_completed is not None and short.date_completed is not None
    assert (hold.date_completed - short.date_completed).total_seconds() > 0.5
