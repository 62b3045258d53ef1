"""Trunk limits through the real engine: the queue (state Queued), its order, a full queue (503)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import httpx
import pytest

from engine.api.app import create_app
from engine.api.keys import KeyStore
from engine.errors import Overloaded
from engine.sessions.model import CallState, Outcome
from engine.tools.sipp.runner import SippUas
from tests.support.engine import (
    DESTINATION,
    engine_config,
    hold_engine,
    place_holds,
    running,
    wait_for_end,
    wait_until,
)

pytestmark = pytest.mark.sip


async def test_calls_beyond_max_concurrent_wait_queued_and_leave_in_order(tmp_path: Path) -> None:
    async with hold_engine(tmp_path, trunk={"max_concurrent_calls": 1}) as (engine, _):
        ids = await place_holds(engine, 3)

        def state(session_id: str) -> CallState:
            session = engine.get_session(session_id)
            assert session is not None
            return session.call_state

        for current, waiting in ((0, ids[1:]), (1, ids[2:]), (2, [])):
            await wait_until(
                lambda current=current: state(ids[current]) is CallState.CONNECTED,
                10,
                f"call {current} answered",
            )
            # The others stay Queued, visible through the backend the API uses.
            assert [state(i) for i in waiting] == [CallState.QUEUED] * len(waiting)
            assert engine.dialers["sipp"].active == 1
            await engine.end_session(ids[current])
            ended = await wait_for_end(engine, ids[current])
            assert ended.outcome is Outcome.COMPLETED


async def test_calls_per_second_are_spaced_by_the_token_bucket(tmp_path: Path) -> None:
    with SippUas("uas-busy-486") as uas:
        config = engine_config(tmp_path, uas.port, trunk={"max_calls_per_second": 5})
        async with running(config) as engine:
            ids = [
                (await engine.create_outgoing_session("greeting", DESTINATION, None)).id
                for _ in range(4)
            ]
            calls = [engine.calls[i] for i in ids]
            for session_id in ids:
                assert (await wait_for_end(engine, session_id)).outcome is Outcome.BUSY
            invites = [c.core.invite_sent_at or 0.0 for c in calls]
            assert all(invites)
            gaps = [b - a for a, b in itertools.pairwise(invites)]
            # burst 1 at 5/s: one call each 0.2 s (loop jitter allowed)
            assert all(gap >= 0.18 for gap in gaps), gaps


async def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    limits = {"max_concurrent_calls": 1, "queue_size": 1}
    async with hold_engine(tmp_path, trunk=limits) as (engine, config):
        keys = KeyStore(config.store.path)
        key = keys.create(["Manager"], "manager")
        transport = httpx.ASGITransport(app=create_app(engine, keys))
        body = {"flowId": "hold", "numberToDial": DESTINATION}
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        ) as http:
            first = await http.post("/sessions/outgoing", json=body)
            assert first.status_code == 200, first.text
            await wait_until(
                lambda: engine.dialers["sipp"].active == 1, 10, "the first call placed"
            )
            second = await http.post("/sessions/outgoing", json=body)
            assert second.status_code == 200, second.text
            assert second.json()["callState"] == "Queued"
            third = await http.post("/sessions/outgoing", json=body)
            assert third.status_code == 503
            assert int(third.headers["Retry-After"]) >= 1
            status = third.json()["responseStatus"]
            assert status["errorCode"] == "QueueFull"
            assert status["message"]
            # The queued one is still there and visible, nothing was dropped.
            queued = await http.get(f"/sessions/{second.json()['id']}")
            assert queued.json()["callState"] == "Queued"
            for answer in (first, second):
                await http.delete(f"/sessions/{answer.json()['id']}")
        keys.close()


async def test_an_overloaded_controller_refuses_new_calls_until_it_catches_up(
    tmp_path: Path,
) -> None:
    async with hold_engine(tmp_path, http={"overload_lag_seconds": 0.3}) as (engine, _):
        time.sleep(0.6)  # one pass of the event loop takes 0.6 s, as on a saturated machine

        with pytest.raises(Overloaded, match=r"its event loop is \d+\.\d s behind"):
            await engine.create_outgoing_session("hold", DESTINATION, None)

        assert engine.store.page(0, 10)[1] == 0
        assert engine.calls == {}
        await wait_until(lambda: engine.loop_lag.behind_seconds() == 0, 3, "caught up")
        accepted = await engine.create_outgoing_session("hold", DESTINATION, None)
        await wait_until(
            lambda: accepted.call_state is CallState.CONNECTED, 10, "the accepted call answered"
        )
        await engine.end_session(accepted.id)
        assert (await wait_for_end(engine, accepted.id)).outcome is Outcome.COMPLETED
