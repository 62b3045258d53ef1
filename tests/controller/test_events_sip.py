"""The events and metrics of real sessions: real SIPp, real workers, a real mosquitto."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.api.app import create_app
from engine.api.keys import KeyStore
from engine.controller.engine import Engine
from engine.events.bus import EventBus
from engine.events.model import Event
from engine.sessions.model import Outcome
from engine.tools.broker import MosquittoBroker
from engine.tools.sipp.runner import SippUas
from tests.support.engine import engine_config, running, wait_for_end, wait_until
from tests.support.mqtt import Subscriber, subscribed

pytestmark = [pytest.mark.sip, pytest.mark.mqtt]

PREFIX = "ve-test"
EVENTS = f"{PREFIX}/sessions/+/events/#"
GREETING_STEPS = [("hello", "say"), ("wait", "pause"), ("goodbye", "say"), ("done", "hangup")]


@contextlib.asynccontextmanager
async def engine_with_events(
    tmp_path: Path, uas: SippUas, broker: MosquittoBroker
) -> AsyncIterator[tuple[Engine, EventBus]]:
    config = engine_config(tmp_path, uas.port, mqtt={"url": broker.url, "topic_prefix": PREFIX})
    bus = EventBus.from_config(config)
    await bus.start()
    try:
        async with running(config, events=bus) as engine:
            yield engine, bus
    finally:
        await bus.stop()


def kinds(events: list[Event]) -> list[str]:
    return [str(event.kind) for event in events]


def of_session(subscriber: Subscriber, session_id: str) -> list[Event]:
    return [e for e in subscriber.unique_events() if e.session_id == session_id]


async def session_events(tmp_path: Path, scenario: str, flow: str) -> list[Event]:
    """Place one session and return the events a real MQTT subscriber received for it."""
    with MosquittoBroker() as broker, SippUas(scenario, rtp_echo=True) as uas:
        async with (
            subscribed(broker, EVENTS) as subscriber,
            engine_with_events(tmp_path, uas, broker) as (engine, _),
        ):
            created = await engine.create_outgoing_session(flow, "+18144043093", None)
            await wait_for_end(engine, created.id)
            await wait_until(
                lambda: "session.completed" in kinds(of_session(subscriber, created.id)),
                what="session.completed over MQTT",
            )
    return of_session(subscriber, created.id)


def step_events(steps: list[tuple[str, str]]) -> list[str]:
    return [kind for _ in steps for kind in ("flow.step_started", "flow.step_finished")]


async def test_completed_session_event_sequence(tmp_path: Path) -> None:
    events = await session_events(tmp_path, "uas-answer-echo-wait-bye", "greeting")
    assert kinds(events) == [
        "session.created",
        "call.invite_sent",
        "call.ringing",
        "call.answered",
        *step_events(GREETING_STEPS),
        "call.ended",
        "session.completed",
    ]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert len({e.id for e in events}) == len(events)
    steps = [(e.data["step"], e.data["type"]) for e in events if e.kind == "flow.step_started"]
    assert steps == GREETING_STEPS
    invite = events[1].data
    parts = [invite["queue_seconds"], invite["worker_pickup_seconds"], invite["make_call_seconds"]]
    assert all(part >= 0 for part in parts)
    assert sum(parts) == pytest.approx(invite["api_to_invite_seconds"], abs=1e-5)
    ended = events[-2].data
    assert ended["outcome"] == "completed" and ended["sip_code"] == 200
    assert ended["talk_seconds"] > 0
    # SIPp echoes our RTP: packets both ways, about 50 a second each (20 ms frames).
    assert ended["rtp_packets_sent"] >= 25 * ended["talk_seconds"]
    assert ended["rtp_packets_received"] >= 0.8 * ended["rtp_packets_sent"]
    assert ended["rtp_packets_lost"] == 0


async def test_busy_session_event_sequence(tmp_path: Path) -> None:
    events = await session_events(tmp_path, "uas-busy-486", "greeting")
    assert kinds(events) == [
        "session.created",
        "call.invite_sent",
        "call.ringing",
        "call.ended",
        "session.completed",
    ]
    assert events[-2].data["outcome"] == "busy"
    assert events[-2].data["sip_code"] == 486
    assert events[-2].data["rtp_packets_sent"] is None  # no media ran
    assert events[-1].data["outcome"] == "busy"


async def test_digit_driven_session_event_sequence(tmp_path: Path) -> None:
    # uas-send-dtmf plays "1#" after answering; press-0-agent's menu takes one digit.
    events = await session_events(tmp_path, "uas-send-dtmf", "press-0-agent")
    names = kinds(events)
    digit = names.index("call.digit_received")
    assert events[digit].data["digit"] == "1"
    menu_started = next(
        i
        for i, e in enumerate(events)
        if e.kind == "flow.step_started" and e.data["step"] == "menu"
    )
    menu_finished = next(
        i
        for i, e in enumerate(events)
        if e.kind == "flow.step_finished" and e.data["step"] == "menu"
    )
    assert menu_started < digit < menu_finished
    assert events[menu_finished].data["result"] == "ok"
    routed = [e.data["step"] for e in events if e.kind == "flow.step_started"]
    assert routed[:3] == ["menu", "route", "goodbye"]
    assert names[-2:] == ["call.ended", "session.completed"]


async def test_broker_outage_mid_call_loses_no_event(tmp_path: Path) -> None:
    with (
        MosquittoBroker(persistence=True) as broker,
        SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas,
    ):
        async with (
            subscribed(broker, EVENTS, identifier="durable-sub") as subscriber,
            engine_with_events(tmp_path, uas, broker) as (engine, bus),
        ):
            await wait_until(lambda: bus.connected, what="the bus to connect")
            created = await engine.create_outgoing_session("greeting", "+18144043093", None)
            await wait_until(
                lambda: "call.answered" in kinds(of_session(subscriber, created.id)),
                what="call.answered over MQTT",
            )
            broker.stop()
            await wait_until(lambda: bus.state == "spooling", what="the bus to spool")
            session = await wait_for_end(engine, created.id)
            assert bus.depth > 0
            broker.start()
            await subscriber.wait_subscribed()
            await wait_until(
                lambda: "session.completed" in kinds(of_session(subscriber, created.id)),
                timeout=20,
                what="session.completed after the outage",
            )
    assert session.outcome is Outcome.COMPLETED
    events = of_session(subscriber, created.id)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert kinds(events)[-2:] == ["call.ended", "session.completed"]
    assert len(events) == 14


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return samples(response.text)


async def test_metrics_follow_what_happened(tmp_path: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as answering:
        config = engine_config(tmp_path, answering.port)
        async with running(config) as engine:
            keys = KeyStore(":memory:")
            app = create_app(engine, keys)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
                before = await scrape(client)
                created = await engine.create_outgoing_session("greeting", "+18144043093", None)
                await wait_until(lambda: created.call_state.value == "Connected", what="answer")
                during = await scrape(client)
                await wait_for_end(engine, created.id)
                after = await scrape(client)

    def value(snapshot: dict[Any, Any], name: str, **labels: str) -> float:
        return float(snapshot.get((name, tuple(sorted(labels.items()))), 0.0))

    completed = {"outcome": "completed", "trunk": "sipp"}
    assert (
        value(after, "voice_engine_sessions_total", **completed)
        - value(before, "voice_engine_sessions_total", **completed)
        == 1
    )
    assert value(during, "voice_engine_active_calls", trunk="sipp") == 1
    assert value(after, "voice_engine_active_calls", trunk="sipp") == 0
    assert (
        value(after, "voice_engine_sip_final_responses_total", code="200")
        - value(before, "voice_engine_sip_final_responses_total", code="200")
        == 1
    )
    for histogram in ("api_to_invite", "answer_time", "call_duration"):
        name = f"voice_engine_{histogram}_seconds_count"
        assert value(after, name) - value(before, name) == 1, histogram
    greeting_say = {"flow": "greeting", "type": "say", "result": "ok"}
    assert (
        value(after, "voice_engine_flow_steps_total", **greeting_say)
        - value(before, "voice_engine_flow_steps_total", **greeting_say)
        == 2
    )
    assert value(after, "voice_engine_workers", state="ready") >= 1
    worker_memory = [
        v for (name, _), v in after.items() if name == "voice_engine_worker_memory_bytes"
    ]
    assert worker_memory and min(worker_memory) > 10_000_000  # reported by the worker processes
