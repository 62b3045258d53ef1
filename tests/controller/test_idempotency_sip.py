"""Idempotency-Key through the real engine: a repeated request dials nothing, also after a
restart; a rejected request keeps no key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.sessions.idempotency import IdempotencyKeyReused
from engine.sessions.model import CallState, Outcome
from engine.sessions.validation import ValidationFailed
from engine.tools.sipp.runner import SippUas
from tests.support.engine import (
    DESTINATION,
    engine_config,
    hold_flows,
    running,
    wait_for_end,
    wait_until,
)

pytestmark = pytest.mark.sip

KEY = "7b0e4c52-1f3a-4d8e-9c6b-5a2f0e1d3c4b"


async def test_a_repeated_key_gets_the_same_session_and_no_second_call(tmp_path: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        config = engine_config(tmp_path, uas.port, flows_dir=hold_flows(tmp_path))
        async with running(config) as engine:
            first = await engine.create_outgoing_session("hold", DESTINATION, None, KEY)
            await wait_until(
                lambda: first.call_state is CallState.CONNECTED, 10, "the call answered"
            )

            again = await engine.create_outgoing_session("hold", DESTINATION, None, KEY)

            assert again is first
            assert engine.store.page(0, 10)[1] == 1
            assert len(engine.calls) == 1
            with pytest.raises(IdempotencyKeyReused) as reused:
                await engine.create_outgoing_session("hold", "+18144043094", None, KEY)
            assert reused.value.fields == ["NumberToDial"]
            await engine.end_session(first.id)
            await wait_for_end(engine, first.id)

        async with running(config) as restarted:
            after_restart = await restarted.create_outgoing_session("hold", DESTINATION, None, KEY)

            assert after_restart.id == first.id
            assert after_restart.outcome is Outcome.COMPLETED
            assert restarted.store.page(0, 10)[1] == 1
            assert restarted.calls == {}
        assert uas.messages_text().count("INVITE sip:") == 1


async def test_a_rejected_request_keeps_no_key(tmp_path: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        config = engine_config(tmp_path, uas.port, flows_dir=hold_flows(tmp_path))
        async with running(config) as engine:
            with pytest.raises(ValidationFailed):
                await engine.create_outgoing_session("no-such-flow", DESTINATION, None, KEY)

            corrected = await engine.create_outgoing_session("hold", DESTINATION, None, KEY)

            assert corrected.flow_id == "hold"
            await engine.end_session(corrected.id)
            await wait_for_end(engine, corrected.id)
