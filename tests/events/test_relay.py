"""The relay process that publishes, against a real mosquitto on loopback."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from engine.config import MqttConfig
from engine.events import EventBus
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
