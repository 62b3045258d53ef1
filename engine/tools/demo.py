"""`voice-engine demo`: one real call from the HTTP API to a SIPp callee and back.

Starts SIPp as the callee behind the first trunk, a private mosquitto, the engine with its HTTP
API, makes a Manager key, posts the reference API's sample XML request with real numbers,
follows the session to its end and prints its timeline, the MQTT events received for it and
the metrics that changed. Exit status 0 only when the outcome is completed.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import httpx
from defusedxml import ElementTree
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from engine.app.serve import api_with_temporary_key, running_engine
from engine.config import EngineConfig, HttpConfig
from engine.errors import EngineError
from engine.tools.broker import MosquittoBroker
from engine.tools.sipp.ports import free_tcp_port, udp_port_is_free
from engine.tools.sipp.runner import SippError, SippUas

CALLEE_SCENARIO = "uas-answer-echo-wait-bye"
DATACONTRACT_NS = "http://schemas.datacontract.org/2004/07/Voice.Api.Sessions"
SAMPLE_REQUEST = (
    '<NewOutgoingSession xmlns:i="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns="http://schemas.datacontract.org/2004/07/Voice.Api.Sessions">\n'
    "<CallerId>{caller_id}</CallerId>\n"
    "<FlowId>{flow_id}</FlowId>\n"
    "<NumberToDial>{number}</NumberToDial>\n"
    "</NewOutgoingSession>"
)


async def run_demo(config: EngineConfig, *, flow_id: str, number: str, timeout: float) -> int:
    console = Console(highlight=False)
    trunk = config.trunks[0]
    caller_id = next((n.number for n in config.numbers if n.trunk == trunk.name), None)
    if caller_id is None:
        raise EngineError(f"no owned number uses trunk {trunk.name!r}: nothing to call from")
    if trunk.host not in ("127.0.0.1", "localhost") or not udp_port_is_free(trunk.port):
        raise EngineError(
            f"the demo's callee needs UDP {trunk.host}:{trunk.port} on loopback, free"
            " (is another SIPp or PBX listening there?)"
        )
    # A free HTTP port: the demo must not collide with a `voice-engine serve` already running.
    config = config.model_copy(update={"http": HttpConfig(host="127.0.0.1", port=free_tcp_port())})
    try:
        callee = SippUas(CALLEE_SCENARIO, port=trunk.port, rtp_echo=True)
        callee.start()
    except SippError as exc:
        raise EngineError(f"cannot start the SIPp callee: {exc}") from exc
    console.print(f"callee: SIPp {CALLEE_SCENARIO} on udp {trunk.host}:{trunk.port}")
    broker = MosquittoBroker()
    metrics_before = _metric_samples()
    try:
        await asyncio.to_thread(broker.start)
        config = config.model_copy(
            update={"mqtt": config.mqtt.model_copy(update={"url": broker.url})}
        )
        console.print(f"events: mosquitto on {broker.url}, topics {config.mqtt.topic_prefix}/#")
        mqtt_events: list[dict[str, Any]] = []
        listener = asyncio.ensure_future(_listen(broker.url, config.mqtt.topic_prefix, mqtt_events))
        async with running_engine(config) as (engine, _bus):
            async with api_with_temporary_key(config, engine, "demo") as (base_url, key, name):
                console.print(f"engine: HTTP API on {base_url}, Manager key {name!r}")
                session = await _call(console, base_url, key, caller_id, flow_id, number, timeout)
            await _until(
                lambda: any(e.get("kind") == "session.completed" for e in mqtt_events),
                10,
                "the session.completed event did not arrive over MQTT",
            )
        listener.cancel()
    finally:
        callee.close()
        await asyncio.to_thread(broker.close)
    _print_timeline(console, session)
    _print_events(console, [e for e in mqtt_events if e.get("session_id") == session.get("id")])
    _print_metric_changes(console, metrics_before, _metric_samples())
    outcome = session.get("outcome")
    console.print(f"outcome: [bold]{outcome}[/bold]")
    return 0 if outcome == "completed" else 1


async def _call(
    console: Console,
    base_url: str,
    key: str,
    caller_id: str,
    flow_id: str,
    number: str,
    timeout: float,
) -> dict[str, Any]:
    body = SAMPLE_REQUEST.format(caller_id=caller_id, flow_id=flow_id, number=number)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        console.print("POST /sessions/outgoing (application/xml):")
        console.print(body, markup=False)
        response = await client.post(
            "/sessions/outgoing",
            content=body.encode(),
            headers={"Accept": "application/xml", "Content-Type": "application/xml"},
        )
        console.print(f"-> {response.status_code} {response.reason_phrase}")
        if response.status_code != 200:
            console.print(response.text, markup=False)
            raise EngineError(f"the API refused the sample request ({response.status_code})")
        root = ElementTree.fromstring(response.content)
        session_id = root.findtext(f"{{{DATACONTRACT_NS}}}Id")
        if not session_id:
            raise EngineError("the API's answer has no session Id")
        console.print(f"session {session_id}: following it to its end")
        deadline = time.monotonic() + timeout
        while True:
            state = await client.get(
                f"/sessions/{session_id}", headers={"Accept": "application/json"}
            )
            state.raise_for_status()
            session: dict[str, Any] = state.json()
            if session.get("ended"):
                return session
            if time.monotonic() > deadline:
                raise EngineError(f"session {session_id} did not end within {timeout:g} s")
            await asyncio.sleep(0.1)


def _print_timeline(console: Console, session: dict[str, Any]) -> None:
    table = Table(title=f"session {session.get('id')} (flow {session.get('flowId')})")
    table.add_column("t (s)", justify="right")
    table.add_column("time (UTC)")
    table.add_column("what happened")
    entries = session.get("log") or []
    start: datetime | None = None
    for entry in entries:
        moment = datetime.fromisoformat(str(entry["date"]).replace("Z", "+00:00"))
        start = start or moment
        table.add_row(
            f"{(moment - start).total_seconds():.3f}",
            moment.strftime("%H:%M:%S.%f")[:-3],
            str(entry["message"]),
        )
    console.print(table)


async def _listen(url: str, prefix: str, into: list[dict[str, Any]]) -> None:
    address = urlsplit(url)
    async with aiomqtt.Client(address.hostname or "127.0.0.1", address.port or 1883) as client:
        await client.subscribe(f"{prefix}/sessions/+/events/#", qos=1)
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes | str):
                into.append(json.loads(payload))


def _print_events(console: Console, events: list[dict[str, Any]]) -> None:
    table = Table(title="MQTT events received (QoS 1)")
    table.add_column("seq", justify="right")
    table.add_column("time (UTC)")
    table.add_column("kind")
    table.add_column("data")
    for event in sorted(events, key=lambda e: int(e.get("sequence", 0))):
        data = event.get("data") or {}
        table.add_row(
            str(event.get("sequence")),
            str(event.get("timestamp", ""))[11:23],
            str(event.get("kind")),
            " ".join(f"{k}={v}" for k, v in data.items() if v is not None),
        )
    console.print(table)


def _metric_samples() -> dict[str, float]:
    text = generate_latest(REGISTRY).decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("voice_engine_") and not sample.name.endswith("_created"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def _print_metric_changes(
    console: Console, before: dict[str, float], after: dict[str, float]
) -> None:
    table = Table(title="metrics that changed (/metrics)")
    table.add_column("sample", overflow="fold")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    for name, value in after.items():
        old = before.get(name, 0.0)
        if value != old and "_bucket" not in name:
            table.add_row(name, f"{old:g}", f"{value:g}")
    console.print(table)


async def _until(predicate: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise EngineError(message)
        await asyncio.sleep(0.02)
