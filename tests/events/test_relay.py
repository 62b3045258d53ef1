"""The relay process that publishes, against a real mosquitto on loopback."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from engine.config import MqttConfig
from engine.events import Event, EventBus
from tests.events.conftest import subscribed
from tests.events.test_publisher import EVENTS, emit_digits, eventually
from tests.support.mosquitto import MosquittoBroker

pytestmark = pytest.mark.mqtt


def relay_restarts() -> float:
    return REGISTRY.get_sample_value("voice_engine_event_relay_restarts_total") or 0.0


async def test_a_killed_relay_is_replaced_and_nothing_is_lost(
    broker: MosquittoBroker, db_path: Path
) -> None:
    config = MqttConfig(url=broker.url, topic_prefix="ve-test")
    async with subscribed(broker, EVENTS) as sub:
        bus = EventBus(node_id="node-1", outbox=db_path, mqtt=config)
        await bus.start()
        await eventually(lambda: bus.connected)
        first = bus.relay_pid
        assert first is not None
        restarts = relay_restarts()
        sent = emit_digits(bus, 20)
        await sub.wait_for(20)
        os.kill(first, signal.SIGKILL)
        sent += emit_digits(bus, 30)  # while no relay runs: they wait in the outbox
        await eventually(lambda: bus.relay_pid not in (None, first) and bus.connected)
        assert relay_restarts() == restarts + 1
        await sub.wait_for(50)
        assert [e.id for e in sub.unique_events()] == [e.id for e in sent]
        await eventually(lambda: bus.depth == 0 and bus.outbox.depth() == 0)
        await bus.stop()


async def test_a_restarted_relay_does_not_send_or_count_again_what_was_delivered(
    broker: MosquittoBroker, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = MqttConfig(url=broker.url, topic_prefix="ve-test")
    async with subscribed(broker, EVENTS) as sub:
        bus = EventBus(node_id="node-1", outbox=db_path, mqtt=config)
        append_many = bus.outbox.append_many
        forgetting_fails = True

        def append_or_fail_to_forget(events: Sequence[Event], **options: Any) -> None:
            # The relay died after its report and before the controller's next write deleted
            # what it reported (a 20 ms window, held open here): the outbox still holds them.
            if forgetting_fails and not events:
                raise sqlite3.OperationalError("database is locked")
            append_many(events, **options)

        monkeypatch.setattr(bus.outbox, "append_many", append_or_fail_to_forget)
        await bus.start()
        await eventually(lambda: bus.connected)
        first = bus.relay_pid
        assert first is not None
        sent = emit_digits(bus, 20)
        await sub.wait_for(20)
        await eventually(lambda: bus.delivered_total == 20)
        assert bus.outbox.depth() == 20
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: bus.relay_pid not in (None, first) and bus.connected)
        forgetting_fails = False
        sent += emit_digits(bus, 30)
        await sub.wait_for(50)
        await eventually(lambda: bus.outbox.depth() == 0)
        assert bus.delivered_total == 50
        assert bus.depth == 0
        assert [e.id for e in sub.events()] == [e.id for e in sent]
        await bus.stop()


async def test_the_broker_password_is_not_on_the_relay_command_line(
    broker: MosquittoBroker, db_path: Path
) -> None:
    config = MqttConfig(url=broker.url, username="engine", password="s3cret-pw")
    bus = EventBus(node_id="node-1", outbox=db_path, mqtt=config)
    await bus.start()
    try:
        await eventually(lambda: bus.connected)
        pid = bus.relay_pid
        assert pid is not None
        assert b"s3cret-pw" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"s3cret-pw" not in Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        await bus.stop()


async def test_without_a_broker_there_is_no_relay(db_path: Path) -> None:
    bus = EventBus(node_id="node-1", outbox=db_path)
    await bus.start()
    assert bus.relay_pid is None
    assert bus.state == "disabled"
    await bus.stop()
