from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.config import MqttConfig
from engine.events import EventBus, EventKind
from engine.events import outbox as outbox_module
from engine.events.model import CallRinging
from engine.tools.sipp.ports import free_tcp_port


async def test_without_mqtt_events_reach_subscribers_and_nothing_piles_up(db_path: Path) -> None:
    bus = EventBus(node_id="node-1", outbox=db_path)
    await bus.start()
    queue = bus.subscribe()
    created = bus.emit(
        "s1",
        EventKind.SESSION_CREATED,
        {"flow_id": "f", "destination": "+15550100", "from_address": "+15550199", "trunk": "t"},
    )
    ringing = bus.emit("s1", "call.ringing", CallRinging(sip_code=180))
    assert (created.sequence, ringing.sequence) == (1, 2)
    assert [queue.get_nowait(), queue.get_nowait()] == [created, ringing]
    assert bus.state == "disabled"
    assert not bus.connected
    assert bus.outbox.depth() == 0
    await bus.stop()


def test_emit_is_synchronous() -> None:
    assert not inspect.iscoroutinefunction(EventBus.emit)


async def test_emit_does_not_wait_for_an_absent_broker(db_path: Path) -> None:
    nobody = MqttConfig(url=f"mqtt://127.0.0.1:{free_tcp_port()}")
    bus = EventBus(node_id="node-1", outbox=db_path, mqtt=nobody)
    await bus.start()
    started = time.perf_counter()
    for i in range(500):
        bus.emit(f"s{i % 5}", "call.digit_received", {"digit": "1"})
    per_emit = (time.perf_counter() - started) / 500
    # Loose: emit() validates and numbers; nothing is written or sent on this call.
    assert per_emit < 0.005
    assert bus.state == "spooling"
    assert bus.depth == 500
    assert bus.outbox.depth() == 0  # written together, within the write interval
    deadline = time.monotonic() + 5
    while bus.outbox.depth() < 500:
        assert time.monotonic() < deadline, "not written"
        await asyncio.sleep(0.01)
    assert bus.depth == 500
    await bus.stop()


async def test_numbers_go_on_after_a_restart_and_past_the_cache(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "SEQUENCES_CACHED", 2)
    bus = EventBus(node_id="node-1", outbox=db_path)

    def emit(on: EventBus, sessions: str) -> list[int]:
        return [on.emit(s, "call.digit_received", {"digit": "1"}).sequence for s in sessions]

    numbers = emit(bus, "abcab")
    bus.flush()
    numbers += emit(bus, "d")
    bus.flush()  # 4 sessions cached: only d's number stays in memory
    numbers += emit(bus, "ad")
    await bus.stop()
    again = EventBus(node_id="node-1", outbox=db_path)
    numbers += emit(again, "abcd")
    await again.stop()
    assert numbers == [1, 1, 1, 2, 2, 1, 3, 2, 4, 3, 2, 3]


async def test_a_refused_event_draws_no_number(db_path: Path) -> None:
    bus = EventBus(node_id="node-1", outbox=db_path)
    with pytest.raises(ValidationError):
        bus.emit("s1", "call.ringing", {"sip_code": "soon"})
    assert bus.emit("s1", "call.ringing", {"sip_code": 180}).sequence == 1
    await bus.stop()


async def test_mistakes_in_events_are_refused(db_path: Path) -> None:
    bus = EventBus(node_id="node-1", outbox=db_path)
    with pytest.raises(ValidationError):
        bus.emit("s1", "call.ringing", {"sip_code": "soon"})
    with pytest.raises(ValueError):
        bus.emit("s1", "call.exploded", {})
    with pytest.raises(ValueError):
        bus.emit("a/b", "call.ringing", {"sip_code": 180})
    await bus.stop()
