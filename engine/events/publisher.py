"""Moves events from the outbox to the MQTT broker, in order, at least once.

One asyncio task: connect, announce the node online (retained, with a Last Will saying offline),
then publish pending outbox events with QoS 1 in batches, reporting each as delivered
(`on_delivered`, with its outbox position: the outbox's owner deletes it) only after the broker's
PUBACK. A batch is pipelined (paho sends it in order on one connection), and only the
acknowledged prefix of it counts as delivered, so after a failure the first unacknowledged event
and everything after it are sent again; so is whatever was delivered but not yet deleted when
the publisher started. Consumers may see duplicates, never gaps or reordering once deduplicated
by id.

When the broker is unreachable the task retries with a capped backoff and the events wait in the
outbox (state "spooling"); nothing here ever blocks the code that emits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiomqtt

from engine.config import MqttConfig
from engine.errors import ConfigError
from engine.events.model import NodeStatus, PublisherState, kind_topic, status_topic
from engine.events.outbox import Outbox, StoredEvent

log = logging.getLogger(__name__)


class BrokerAddress:
    """Where and how to connect, parsed from MqttConfig; `str()` never shows the password."""

    def __init__(self, config: MqttConfig) -> None:
        if not config.url:
            raise ConfigError("mqtt.url: not set")
        parts = urlsplit(config.url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ConfigError(f"mqtt.url: scheme must be mqtt:// or mqtts://, not {parts.scheme!r}")
        if not parts.hostname:
            raise ConfigError("mqtt.url: no host")
        self.tls = parts.scheme == "mqtts" or config.tls
        self.host = parts.hostname
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = config.username or (unquote(parts.username) if parts.username else None)
        if config.password is not None:
            self.password: str | None = config.password.get_secret_value()
        else:
            self.password = unquote(parts.password) if parts.password else None
        self.ca_file = config.ca_file

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


class _Disconnected(Exception):
    """The broker connection ended while a batch was in flight.

    Outside the EngineError tree: the publisher's signal to its own loop to reconnect; it never
    leaves Publisher."""


class Publisher:
    def __init__(
        self,
        config: MqttConfig,
        node_id: str,
        outbox: Outbox,
        *,
        on_delivered: Callable[[int, int], None] = lambda count, through: None,
        on_state: Callable[[PublisherState], None] = lambda state: None,
        batch_size: int = 100,
        max_backoff_seconds: float = 2.0,
        publish_timeout_seconds: float = 5.0,
        keepalive_seconds: int = 10,
        delivered_through: int = 0,
    ) -> None:
        self._address = BrokerAddress(config)
        self._prefix = config.topic_prefix
        self._node_id = node_id
        self._client_id = config.client_id or f"voice-engine-{node_id}"
        """Read only: `on_delivered(count, through)` says what the broker acknowledged, up to
        and including outbox position `through`, for the outbox's owner to delete. Events up
        to `delivered_through` were delivered before this publisher started (by an earlier
        relay whose report the owner has, maybe not yet acted on): they are not sent again."""
        self._outbox = outbox
        self._on_delivered = on_delivered
        self._delivered_through = delivered_through
        """The last outbox position acknowledged by the broker."""
        self._on_state = on_state
        self._batch_size = batch_size
        self._max_backoff = max_backoff_seconds
        self._publish_timeout = publish_timeout_seconds
        self._keepalive = keepalive_seconds
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._connected = False

    @property
    def state(self) -> PublisherState:
        return "connected" if self._connected else "spooling"

    @property
    def status_topic(self) -> str:
        return status_topic(self._prefix, self._node_id)

    def notify(self) -> None:
        """New events are in the outbox (cheap; safe to call at any time on the loop thread)."""
        self._wakeup.set()

    def request_stop(self) -> None:
        """Finish what is pending, say offline, disconnect; `run()` then returns."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        """Publish until stopped; reconnects on its own."""
        backoff = 0.1
        reported_down = False
        while not self._stopping:
            try:
                async with self._client() as client:
                    self._set_connected(True)
                    backoff = 0.1
                    if reported_down:
                        log.info("MQTT broker %s is back; delivering the outbox", self._address)
                    else:
                        log.info("connected to MQTT broker %s", self._address)
                    reported_down = False
                    await client.publish(
                        self.status_topic, self._status("online"), qos=1, retain=True
                    )
                    await self._pump(client)
                    # Only a requested stop gets here: a clean DISCONNECT suppresses the Last
                    # Will, so say offline ourselves.
                    await client.publish(
                        self.status_topic, self._status("offline"), qos=1, retain=True
                    )
            except (aiomqtt.MqttError, _Disconnected) as exc:
                if not reported_down:
                    log.warning(
                        "MQTT broker %s unreachable (%s); events wait in the outbox (%d now)",
                        self._address,
                        exc,
                        self._outbox.depth(),
                    )
                    reported_down = True
            finally:
                self._set_connected(False)
            if self._stopping:
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected:
            self._connected = connected
            self._on_state(self.state)

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            self.status_topic, self._status("offline", now=False), qos=1, retain=True
        )
        client = aiomqtt.Client(
            self._address.host,
            self._address.port,
            username=self._address.username,
            password=self._address.password,
            identifier=self._client_id,
            will=will,
            keepalive=self._keepalive,
            timeout=self._publish_timeout,
            tls_context=self._address.tls_context(),
            logger=logging.getLogger("engine.events.mqtt"),
        )
        # A whole batch is in flight at once; aiomqtt warns above this many pending calls.
        client.pending_calls_threshold = self._batch_size + 10
        return client

    def _status(self, state: Literal["online", "offline"], *, now: bool = True) -> bytes:
        moment = datetime.now(UTC) if now else None
        return NodeStatus(node_id=self._node_id, state=state, timestamp=moment).to_json()

    async def _pump(self, client: aiomqtt.Client) -> None:
        watchdog = asyncio.create_task(_until_disconnected(client))
        try:
            while True:
                self._wakeup.clear()
                batch = self._outbox.pending_stored(self._batch_size, self._delivered_through)
                if not batch:
                    if self._stopping:
                        return
                    await _first_of(self._wakeup.wait(), watchdog)
                    continue
                await self._publish_batch(client, batch, watchdog)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await watchdog

    async def _publish_batch(
        self, client: aiomqtt.Client, batch: list[StoredEvent], watchdog: asyncio.Task[None]
    ) -> None:
        # Tasks start in creation order, so paho queues the PUBLISH packets in outbox order. The
        # batch has one deadline: a timeout per publish cost aiomqtt a task and a timer each.
        sends = [
            asyncio.create_task(
                client.publish(
                    kind_topic(self._prefix, event.session_id, event.kind),
                    event.payload.encode(),
                    qos=1,
                    timeout=math.inf,
                )
            )
            for event in batch
        ]
        all_sent = asyncio.gather(*sends, return_exceptions=True)
        await asyncio.wait(
            (all_sent, watchdog),
            timeout=self._publish_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        acknowledged: list[StoredEvent] = []
        for event, send in zip(batch, sends, strict=True):
            if not send.done() or send.cancelled() or send.exception() is not None:
                break
            acknowledged.append(event)
        for send in sends:
            send.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await all_sent
        if acknowledged:
            self._delivered_through = acknowledged[-1].position
            self._on_delivered(len(acknowledged), self._delivered_through)
        if len(acknowledged) < len(batch):
            # A failed publish means the connection is going; let the watchdog see it close
            # (so aiomqtt's disconnection error is consumed) before reconnecting.
            await asyncio.wait({watchdog}, timeout=1.0)
            raise _Disconnected(f"{len(batch) - len(acknowledged)} events not acknowledged")


async def _until_disconnected(client: aiomqtt.Client) -> None:
    """Return (by raising MqttError) when the connection drops; nothing is subscribed, so the
    message iterator yields nothing until then."""
    async for _ in client.messages:
        pass


async def _first_of(wakeup: Awaitable[object], watchdog: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(wakeup)
    try:
        await asyncio.wait((waiter, watchdog), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if watchdog.done():
        watchdog.result()  # raises the MqttError that ended the connection
        raise _Disconnected("connection closed")
