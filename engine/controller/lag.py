"""How far the controller's event loop is behind: the signal to refuse new calls when it is
saturated, instead of letting requests wait until their clients give up.

When the controller has more work than CPU, requests wait before it handles them, past the
engine's ceiling longer than their clients do, while the calls already accepted run on. Refusing
a request costs a fraction of placing its call, so refusing while the loop is behind lets it
catch up, and each client learns at once to retry later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from engine.clock import Clock

TICK_SECONDS = 0.1
WINDOW_SECONDS = 1.0
"""A pass of the loop that ran late counts for this long: after a stall the loop runs its
timers (this tick among them) before it reads the requests that queued meanwhile, so the
current tick alone misses most stalls (docs/field-notes.md, asyncio and uvloop)."""


class LoopLag:
    """A task that wakes every `TICK_SECONDS`; the loop is behind by however much later than
    that it woke, or is still to wake, within the last `WINDOW_SECONDS`. Read on the process's
    clock, not the loop's: uvloop's clock stands still during one pass of the loop, the very
    pass that takes long."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last_tick = clock.monotonic()
        self._late: deque[tuple[float, float]] = deque()
        """(when, how late) of the ticks within the window that woke late."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._last_tick = self._clock.monotonic()
        self._task = asyncio.ensure_future(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def behind_seconds(self) -> float:
        now = self._clock.monotonic()
        while self._late and self._late[0][0] < now - WINDOW_SECONDS:
            self._late.popleft()
        waiting = now - self._last_tick - TICK_SECONDS
        return max(0.0, waiting, *(late for _, late in self._late))

    async def _tick(self) -> None:
        while True:
            now = self._clock.monotonic()
            late = now - self._last_tick - TICK_SECONDS
            if late > 0.01:
                self._late.append((now, late))
            self._last_tick = now
            await asyncio.sleep(TICK_SECONDS)
