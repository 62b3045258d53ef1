"""A real MQTT subscriber for tests: records every message as it arrives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiomqtt

from engine.events.model import Event
from engine.tools.broker import MosquittoBroker


class Subscriber:
    """Collects what a real MQTT client receives; reconnects with a durable session so a
    broker restart (with persistence) loses nothing queued for it."""

    def __init__(self, broker: MosquittoBroker, topic: str, identifier: str = "test-sub") -> None:
        self._broker = broker
        self._topic = topic
        self._identifier = identifier
        self.messages: list[aiomqtt.Message] = []
        self._arrived = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def events(self) -> list[Event]:
        return [Event.from_json(bytes(m.payload)) for m in self.messages]  # type: ignore[arg-type]

    def unique_events(self) -> list[Event]:
        seen: set[str] = set()
        unique = []
        for event in self.events():
            if event.id not in seen:
                seen.add(event.id)
                unique.append(event)
        return unique

    async def _run(self) -> None:
        messages, arrived = self.messages, self._arrived

        class Recording(asyncio.Queue[aiomqtt.Message]):
            # Record on arrival: paho has already acknowledged the message, and aiomqtt drops
            # its queue on a disconnection, which would look like a loss in the tests.
            def put_nowait(self, item: aiomqtt.Message) -> None:
                messages.append(item)
                arrived.set()

        while True:
            client = aiomqtt.Client(
                self._broker.host,
                self._broker.port,
                identifier=self._identifier,
                clean_session=False,
                queue_type=Recording,
            )
            try:
                async with client:
                    await client.subscribe(self._topic, qos=1)
                    self._subscribed.set()
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError:
                self._subscribed.clear()
                await asyncio.sleep(0.05)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._subscribed.wait(), 5)

    async def wait_subscribed(self) -> None:
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def wait_for(self, count: int, timeout: float = 10.0, unique: bool = True) -> None:
        async def enough() -> None:
            while len(self.unique_events() if unique else self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(enough(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def subscribed(
    broker: MosquittoBroker, topic: str, identifier: str = "test-sub"
) -> AsyncIterator[Subscriber]:
    subscriber = Subscriber(broker, topic, identifier)
    await subscriber.start()
    try:
        yield subscriber
    finally:
        await subscriber.stop()
