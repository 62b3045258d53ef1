"""How far the controller's event loop is behind: the signal to refuse new calls when it is
saturated, instead of letting requests wait unread until their clients give up.

When the controller has more work than CPU, requests wait in the socket before they are even
read. In a rate run past the engine's ceiling (`rate-20261128-003931.json`, 140 calls/s) half
the requests waited 345 ms or more and 152 waited past the client's 30 s, while the calls
already accepted ran on. Refusing a request costs a fraction of placing its call, so refusing
while the loop is behind lets it catch up, and each client learns at once to retry later.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

TICK_SECONDS = 0.1


class LoopLag:
    """A task that wakes every `TICK_SECONDS`; the loop is behind by however much later than
    that it has not run. Read with time.monotonic(), not the loop's clock: uvloop's clock
    stands still during one pass of the loop, the very pass that takes long."""

    def __init__(self) -> None:
        self._last_tick = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._last_tick = time.monotonic()
        self._task = asyncio.ensure_future(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def behind_seconds(self) -> float:
        return max(0.0, time.monotonic() - self._last_tick - TICK_SECONDS)

    async def _tick(self) -> None:
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(TICK_SECONDS)
