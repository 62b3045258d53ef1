"""EventBus: the one object the rest of the engine calls to report what happened.

`emit()` is synchronous and cheap: it validates and numbers the event and hands it to in-process
subscribers. What was emitted in the last `WRITE_INTERVAL_SECONDS` goes to the SQLite outbox
together (one small WAL transaction, no fsync), and then the publisher is woken. Nothing waits
for the network, so a slow or absent broker cannot slow a call down. A crash loses at most the
events of that interval. What the relay reports delivered is deleted from the outbox with the
next write (this process is the file's only writer: engine/events/relay.py).

    bus = EventBus(node_id="node-1", outbox="var/engine.db", mqtt=config.mqtt)
    await bus.start()
    bus.emit(session.id, EventKind.CALL_RINGING, {"sip_code": 180})
    await bus.stop()

Call `emit()` on the event loop's thread (the outbox connection belongs to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine import metrics
from engine.config import EngineConfig, MqttConfig
from engine.events.model import (
    Event,
    EventData,
    EventKind,
    PublisherState,
    topic_level,
    validate_data,
)
from engine.events.outbox import Outbox
from engine.events.relay import Relay

log = logging.getLogger(__name__)

WRITE_INTERVAL_SECONDS = 0.02
"""Longest time an emitted event waits before it is written to the outbox (and published):
with about one event per loop turn, a transaction per turn cost far more CPU a call
(docs/field-notes.md, SQLite)."""


class EventBus:
    def __init__(
        self,
        *,
        node_id: str,
        outbox: Outbox | Path | str,
        mqtt: MqttConfig | None = None,
        stop_timeout_seconds: float = 5.0,
    ) -> None:
        """`outbox` is an Outbox or the path of the engine's SQLite file. With no `mqtt` (or
        no `mqtt.url`) events go to subscribers only and nothing accumulates in the outbox."""
        self.node_id = topic_level(node_id, "node id")
        self.outbox = outbox if isinstance(outbox, Outbox) else Outbox(outbox)
        self._owns_outbox = not isinstance(outbox, Outbox)
        self._relay = (
            Relay(
                mqtt,
                self.node_id,
                self.outbox.path,
                on_state=self._relay_state,
                on_delivered=self._delivered,
            )
            if mqtt is not None and mqtt.url
            else None
        )
        self._state: PublisherState = "disabled" if self._relay is None else "spooling"
        self._stop_timeout = stop_timeout_seconds
        self._started = False
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._unwritten: list[Event] = []
        self.delivered_total = 0
        """Events the broker acknowledged since this bus started."""
        self._delivered_through: int | None = None
        """The relay's last acknowledged outbox position, until the outbox forgets up to it."""
        self._write_scheduled = False
        self._depth = self.outbox.depth()
        metrics.outbox_depth.set(self._depth)

    @classmethod
    def from_config(cls, config: EngineConfig) -> EventBus:
        return cls(node_id=config.node_id, outbox=config.store.path, mqtt=config.mqtt)

    @property
    def state(self) -> PublisherState:
        """For /ready: "connected", "spooling" (broker unreachable, events kept) or "disabled"."""
        return self._state

    @property
    def connected(self) -> bool:
        return self._state == "connected"

    @property
    def relay_pid(self) -> int | None:
        """The publishing process, when there is one."""
        return self._relay.pid if self._relay is not None else None

    @property
    def depth(self) -> int:
        """Events waiting for the broker (written to the outbox or about to be)."""
        return self._depth + (len(self._unwritten) if self._relay is not None else 0)

    def emit(
        self,
        session_id: str,
        kind: EventKind | str,
        data: EventData | Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> Event:
        """Record an event and return it, numbered. Never awaits; never raises for a storage
        failure (logged and counted in voice_engine_events_dropped_total instead).

        Raises ValueError (pydantic's ValidationError) or TypeError when `kind` or `data` is
        wrong: that is a bug in the caller, not a runtime condition.
        """
        kind = EventKind(kind)
        session_id = topic_level(session_id, "session id")
        checked = validate_data(kind, data if data is not None else {})
        event = Event(
            kind=kind,
            session_id=session_id,
            node_id=self.node_id,
            timestamp=at or datetime.now(UTC),
            sequence=self.outbox.next_sequence(session_id),
            data=checked,
        )
        metrics.events_emitted_total.labels(kind.value).inc()
        self._unwritten.append(event)
        self._schedule_write()
        for queue in self._subscribers:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("event subscriber is full; event %s not given to it", event.id)
        return event

    def flush(self) -> None:
        """Write the events emitted so far to the outbox now (else within the write interval),
        and forget there what the relay has delivered."""
        events, self._unwritten = self._unwritten, []
        self._write_scheduled = False
        delivered_through = self._delivered_through
        if not events and delivered_through is None:
            return
        try:
            self.outbox.append_many(
                events, delivered=self._relay is None, forget_through=delivered_through
            )
        except sqlite3.Error:
            if events:
                log.exception("%d events not stored (the first %s)", len(events), events[0].id)
                metrics.events_dropped_total.inc(len(events))
            else:
                log.exception("delivered events not deleted from the outbox (tried again later)")
            return
        self._delivered_through = None
        if events and self._relay is not None:
            self._depth += len(events)
            metrics.outbox_depth.set(self._depth)
            self._relay.notify()

    def _schedule_write(self) -> None:
        if self._write_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: nothing would write later
            self.flush()
            return
        self._write_scheduled = True
        loop.call_later(WRITE_INTERVAL_SECONDS, self.flush)

    def subscribe(self, maxsize: int = 10_000) -> asyncio.Queue[Event]:
        """A queue that receives every event emitted from now on (in-process, no broker)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    async def start(self) -> None:
        """Start publishing (events left in the outbox by an earlier run go first)."""
        if self._relay is None or self._started:
            return
        self._started = True
        await self._relay.start()
        if self._depth:
            self._relay.notify()

    async def stop(self) -> None:
        """Deliver what is pending if the broker is reachable (up to the stop timeout), say
        offline, disconnect. Whatever is left stays in the outbox for the next start."""
        self.flush()
        if self._relay is not None and self._started:
            await self._relay.stop(self._stop_timeout)
            self._started = False
            self.flush()  # what the relay delivered while stopping
        if self._owns_outbox:
            self.outbox.close()

    def _relay_state(self, state: str) -> None:
        self._state = "connected" if state == "connected" else "spooling"
        metrics.mqtt_connected.set(1 if self._state == "connected" else 0)

    def _delivered(self, count: int, through: int) -> None:
        self._delivered_through = max(through, self._delivered_through or 0)
        self._schedule_write()
        self._depth = max(0, self._depth - count)
        self.delivered_total += count
        metrics.outbox_depth.set(self._depth)
        metrics.events_published_total.inc(count)
