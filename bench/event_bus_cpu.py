"""CPU per call of the production event path: the 12 events a `loadtest-3s` call emits, through
`EventBus` (SQLite outbox, then MQTT to a private mosquitto): `ms_per_call` in the engine's own
process, `relay_ms_per_call` in the relay process that publishes (files from 2026-11-27 17:00 on).

`bench/load_bench.py` hands the engine's events to an in-process recorder unless given `--mqtt`;
this measures the event path alone.

    python bench/event_bus_cpu.py --calls 2000 --rounds 3                      # 1 event a turn
    python bench/event_bus_cpu.py --calls 2000 --rounds 3 --events-per-turn 12

The bus writes what was emitted within 20 ms in one transaction; `--events-per-turn` sets how
many events are emitted between two turns of the event loop (in the engine a turn usually
handles one or a few worker messages). The result goes to bench/results/event-bus-cpu-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import MqttConfig
from engine.events.bus import EventBus
from engine.tools.broker import MosquittoBroker
from engine.tools.loadtest.procstat import cpu_seconds
from engine.tools.loadtest.runner import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"

STEPS = (("hello", "say"), ("wait", "pause"), ("done", "hangup"))


def call_events() -> list[tuple[str, dict[str, Any]]]:
    """What CallDriver emits for one answered `loadtest-3s` call (values typical, not real)."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("session.created", {"flow_id": "loadtest-3s", "destination": "+18144043093",
                             "from_address": "+12025550143", "trunk": "sipp"}),
        ("call.invite_sent", {"trunk": "sipp", "request_uri": "sip:+18144043093@127.0.0.1:5070",
                              "worker_id": "7", "api_to_invite_seconds": 0.0026,
                              "queue_seconds": 0.0007, "worker_pickup_seconds": 0.0005,
                              "make_call_seconds": 0.0005}),
        ("call.ringing", {"sip_code": 180, "early_media": False}),
        ("call.answered", {"post_dial_delay_seconds": 0.001, "answer_time_seconds": 0.002}),
    ]  # fmt: skip
    for step, kind in STEPS:
        events.append(("flow.step_started", {"step": step, "type": kind}))
        events.append(("flow.step_finished", {"step": step, "type": kind, "result": "ok"}))
    events += [
        ("call.ended", {"outcome": "completed", "sip_code": 200, "sip_reason": "OK",
                        "post_dial_delay_seconds": 0.001, "ring_seconds": 0.001,
                        "talk_seconds": 3.02, "rtp_packets_sent": 151, "rtp_packets_received": 151,
                        "rtp_packets_lost": 0, "rtp_jitter_ms": 0.4}),
        ("session.completed", {"outcome": "completed", "duration_seconds": 3.03}),
    ]  # fmt: skip
    return events


async def one_round(
    calls: int, mqtt: MqttConfig | None, folder: Path, events_per_turn: int
) -> dict[str, float]:
    bus = EventBus(node_id="bench", outbox=folder / f"{uuid.uuid4().hex}.db", mqtt=mqtt)
    await bus.start()
    events = call_events()
    connect_by = time.monotonic() + 30
    while mqtt is not None and not bus.connected and time.monotonic() < connect_by:
        await asyncio.sleep(0.05)
    relay = bus.relay_pid
    relay_before = cpu_seconds(relay) if relay else None
    started = time.process_time()
    for _ in range(calls):
        session_id = uuid.uuid4().hex
        for index, (kind, data) in enumerate(events, 1):
            bus.emit(session_id, kind, data)
            if index % events_per_turn == 0 or index == len(events):
                await asyncio.sleep(0)  # the loop turns, as between worker messages
    drained_by = time.monotonic() + 120
    while bus.depth and time.monotonic() < drained_by:
        await asyncio.sleep(0.01)
    used = time.process_time() - started
    relay_after = cpu_seconds(relay) if relay else None
    left = bus.depth
    await bus.stop()
    result: dict[str, float] = {
        "ms_per_call": round(1000 * used / calls, 3),
        "left_in_outbox": left,
    }
    if relay_before is not None and relay_after is not None:
        result["relay_ms_per_call"] = round(1000 * (relay_after - relay_before) / calls, 3)
    return result


async def measure(calls: int, rounds: int, events_per_turn: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="event-bus-cpu-") as name:
        folder = Path(name)
        without = [await one_round(calls, None, folder, events_per_turn) for _ in range(rounds)]
        with MosquittoBroker() as broker:
            pid = broker.pid
            before = cpu_seconds(pid) if pid else None
            with_broker = [
                await one_round(calls, MqttConfig(url=broker.url), folder, events_per_turn)
                for _ in range(rounds)
            ]
            after = cpu_seconds(pid) if pid else None
    broker_ms = (
        round(1000 * (after - before) / (calls * rounds), 3)
        if before is not None and after is not None
        else None
    )
    return {
        "calls_per_round": calls,
        "events_per_call": len(call_events()),
        "events_per_turn": events_per_turn,
        "no_broker": without,
        "mqtt": with_broker,
        "mosquitto_ms_per_call": broker_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events-per-turn", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(measure(args.calls, args.rounds, args.events_per_turn))
    report = {
        "kind": "event-bus-cpu",
        "command": "python bench/event_bus_cpu.py " + " ".join(sys.argv[1:]),
        "machine": describe_machine(),
        "result": result,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"event-bus-cpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(result))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
