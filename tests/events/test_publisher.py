"""Against a real mosquitto on loopback: order, QoS 1, outages, restarts, presence."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from engine.config import MqttConfig
from engine.events import Event, EventBus
from engine.events.outbox import Outbox
from engine.events.publisher import Publisher
from tests.events.conftest import mqtt_config, subscribed
from tests.support.mosquitto import MosquittoBroker

pytestmark = pytest.mark.mqtt

EVENTS = "ve-test/sessions/+/events/#"


def emit_digits(bus: EventBus, count: int, sessions: int = 3) -> list[Event]:
    return [
        bus.emit(f"s{i % sessions}", "call.digit_received", {"digit": "7"}) for i in range(count)
    ]


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def assert_complete_and_ordered(received: list[Event], sent: list[Event]) -> None:
    assert {e.id for e in received} == {e.id for e in sent}
    for session in {e.session_id for e in sent}:
        got = [e.sequence for e in received if e.session_id == session]
        assert got == sorted(got), f"session {session} out of order: {got}"
        assert got == list(range(got[0], got[0] + len(got)))


async def test_delivers_in_order_with_qos1(broker: MosquittoBroker, db_path: Path) -> None:
    async with subscribed(broker, EVENTS) as sub:
        bus = EventBus(node_id="node-1", outbox=db_path, mqtt=mqtt_config(broker))
        await bus.start()
        sent = emit_digits(bus, 200)
        await sub.wait_for(200)
        assert [e.id for e in sub.events()] == [e.id for e in sent]  # no duplicates either
        first = sub.messages[0]
        assert str(first.topic) == "ve-test/sessions/s0/events/call.digit_received"
        assert first.qos == 1
        await eventually(lambda: bus.outbox.depth() == 0 and bus.depth == 0)
        assert bus.state == "connected"
        await bus.stop()


async def test_broker_outage_loses_nothing(db_path: Path) -> None:
    with MosquittoBroker(persistence=True) as broker:
        async with subscribed(broker, EVENTS, identifier="durable-sub") as sub:
            bus = EventBus(node_id="node-1", outbox=db_path, mqtt=mqtt_config(broker))
            await bus.start()
            await eventually(lambda: bus.connected)
            sent = emit_digits(bus, 100)
            await asyncio.sleep(0)  # the publisher starts sending; the broker dies mid-batch
            broker.stop()
            sent += emit_digits(bus, 100)
            await eventually(lambda: bus.state == "spooling")
            sent += emit_digits(bus, 100)
            assert bus.outbox.depth() > 0
            broker.start()
            sent += emit_digits(bus, 100)
            try:
                await sub.wait_for(400, timeout=15)
            except TimeoutError:
                got = sub.unique_events()
                missing = [e for e in sent if e.id not in {g.id for g in got}]
                raise AssertionError(
                    f"{len(sub.messages)} {len(got)} {bus.state} {bus.outbox.depth()}"
                    f" missing {[(e.session_id, e.sequence) for e in missing]}"
                ) from None
            assert_complete_and_ordered(sub.unique_events(), sent)
            await eventually(lambda: bus.outbox.depth() == 0)
            await bus.stop()


async def test_a_broker_that_stops_answering_gets_the_events_once_it_answers(
    broker: MosquittoBroker, db_path: Path
) -> None:
    async with subscribed(broker, EVENTS) as sub:
        bus = EventBus(node_id="node-1", outbox=db_path, mqtt=mqtt_config(broker))
        await bus.start()
        await eventually(lambda: bus.connected)
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)  # connected, but no PUBACK comes
        try:
            sent = emit_digits(bus, 50)
            # The batch's 5-s deadline, not the 10-s keepalive (that took about 20 s).
            await eventually(lambda: bus.state == "spooling", timeout=12)
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        await sub.wait_for(50, timeout=30)
        assert_complete_and_ordered(sub.unique_events(), sent)
        await eventually(lambda: bus.outbox.depth() == 0, timeout=30)
        await bus.stop()


async def test_a_restarted_engine_delivers_what_was_left(
    broker: MosquittoBroker, db_path: Path
) -> None:
    down = MqttConfig(url=f"mqtt://127.0.0.1:{broker.port}", topic_prefix="ve-test")
    broker.stop()
    first = EventBus(node_id="node-1", outbox=db_path, mqtt=down)
    await first.start()
    left = emit_digits(first, 30)
    await first.stop()

    broker.start()
    async with subscribed(broker, EVENTS) as sub:
        second = EventBus(node_id="node-1", outbox=db_path, mqtt=down)
        assert second.depth == 30
        await second.start()
        more = emit_digits(second, 3)
        assert [e.sequence for e in more] == [11, 11, 11]  # continues after 10 per session
        await sub.wait_for(33)
        assert [e.id for e in sub.unique_events()] == [e.id for e in left + more]
        await second.stop()


async def test_the_publisher_delivers_without_the_files_write_lock(
    broker: MosquittoBroker, db_path: Path
) -> None:
    """The relay's side only reads: it delivers and reports while another connection holds
    the write lock throughout, as the controller's commits do between their BEGIN and COMMIT."""
    writer = Outbox(db_path)
    sent = [writer.next_sequence("s1") for _ in range(150)]
    events = [
        Event(kind="call.digit_received", session_id="s1", node_id="node-1",
              timestamp=datetime.now(UTC), sequence=n, data={"digit": "5"})
        for n in sent
    ]  # fmt: skip
    writer.append_many(events)
    last_position = writer.pending_stored(1000)[-1].position
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    reports: list[tuple[int, int]] = []
    reader = Outbox(db_path, read_only=True, busy_timeout_seconds=0.5)
    publisher = Publisher(
        mqtt_config(broker),
        "node-1",
        reader,
        on_delivered=lambda count, through: reports.append((count, through)),
        batch_size=40,
    )
    try:
        async with subscribed(broker, EVENTS) as sub:
            running = asyncio.create_task(publisher.run())
            await sub.wait_for(150)
            await eventually(lambda: bool(reports) and reports[-1][1] == last_position)
            assert sum(count for count, _ in reports) == 150
            assert [e.id for e in sub.events()] == [e.id for e in events]
            publisher.request_stop()
            await asyncio.wait_for(running, 10)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        reader.close()
    assert writer.depth() == 150  # deleting is the writer's job
    writer.close()


async def read_status(broker: MosquittoBroker, topic: str) -> dict[str, object]:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async for message in client.messages:
            return dict(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
    raise AssertionError("no status")


async def test_presence_online_then_offline_on_stop(broker: MosquittoBroker, db_path: Path) -> None:
    bus = EventBus(node_id="node-7", outbox=db_path, mqtt=mqtt_config(broker))
    await bus.start()
    await eventually(lambda: bus.connected)
    topic = "ve-test/nodes/node-7/status"
    status = await asyncio.wait_for(read_status(broker, topic), 5)
    assert status["state"] == "online"
    assert status["node_id"] == "node-7"
    await bus.stop()
    status = await asyncio.wait_for(read_status(broker, topic), 5)
    assert status["state"] == "offline"


CHILD = """
import asyncio, sys
from engine.config import MqttConfig
from engine.events import EventBus

async def main():
    bus = EventBus(node_id="node-9", outbox=sys.argv[1],
                   mqtt=MqttConfig(url=sys.argv[2], topic_prefix="ve-test"))
    await bus.start()
    while not bus.connected:
        await asyncio.sleep(0.01)
    print("connected", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_last_will_says_offline_when_the_engine_dies(
    broker: MosquittoBroker, db_path: Path
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path), broker.url],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 20)
        assert line.strip() == b"connected"
        topic = "ve-test/nodes/node-9/status"
        online = await asyncio.wait_for(read_status(broker, topic), 5)
        assert online["state"] == "online"
        child.send_signal(signal.SIGKILL)
        child.wait(5)

        async def offline() -> None:
            while (await read_status(broker, topic))["state"] != "offline":
                await asyncio.sleep(0.05)

        await asyncio.wait_for(offline(), 10)
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
