"""Per-trunk admission: a FIFO queue released under a concurrency cap and a token bucket.

A session waits here in state Queued until its trunk has a free call, a token (calls per
second) and a worker slot; sessions leave in the order they arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque

from engine.clock import Clock
from engine.config import TrunkConfig
from engine.controller.call import CallDriver
from engine.controller.pool import WorkerHandle, WorkerPool
from engine.errors import NoWorkerAvailable

log = logging.getLogger(__name__)


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`."""

    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0: now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 - 1e-9 else (1 - self._tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self._tokens -= 1


class TrunkDialer:
    def __init__(self, trunk: TrunkConfig, pool: WorkerPool, clock: Clock) -> None:
        self.trunk = trunk
        self.pool = pool
        self.queue: deque[CallDriver] = deque()
        self.active = 0
        self.bucket = TokenBucket(
            trunk.max_calls_per_second, burst=max(1.0, trunk.max_calls_per_second / 10), clock=clock
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._placing: CallDriver | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def is_full(self) -> bool:
        """No room to wait: `queue_size` sessions already wait. A session that can leave at
        once (nothing waiting, a concurrent call free) never counts against the size."""
        can_go_now = not self.queue and self.active < self.trunk.max_concurrent_calls
        return not can_go_now and len(self.queue) >= self.trunk.queue_size

    def enqueue(self, call: CallDriver) -> None:
        """Place the call now when nothing waits and the trunk and a worker have room (one
        event-loop turn sooner than the dialer's task would), else queue it for the task."""
        if (
            not self.queue
            and self._placing is None
            and self.active < self.trunk.max_concurrent_calls
            and self.bucket.wait_time() <= 0
        ):
            worker = self.pool.try_acquire(call.legs_needed)
            if worker is not None:
                self._place(call, worker)
                return
        self.queue.append(call)
        self._wake.set()

    def remove(self, call: CallDriver) -> bool:
        """Take a still-waiting session out of the queue (it is canceled)."""
        if call is self._placing:
            self._placing = None
        try:
            self.queue.remove(call)
        except ValueError:
            return False
        self._wake.set()
        return True

    def call_ended(self) -> None:
        self.active = max(0, self.active - 1)
        self._wake.set()

    def retry_after_seconds(self) -> int:
        """A client's wait before retrying a refused request: the queue drains at the trunk's
        rate (an estimate: calls also wait for a free concurrent call)."""
        return max(1, math.ceil(len(self.queue) / self.trunk.max_calls_per_second))

    async def _run(self) -> None:
        while True:
            while not self.queue or self.active >= self.trunk.max_concurrent_calls:
                self._wake.clear()
                await self._wake.wait()
            delay = self.bucket.wait_time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            call = self.queue[0]
            self._placing = call
            try:
                worker = await self.pool.acquire(call.legs_needed)
            except NoWorkerAvailable as exc:
                if self._placing is call:
                    self.queue.popleft()
                    call.fail_before_placing(f"no SIP worker available: {exc}")
                continue
            if self._placing is not call:
                self.pool.release_reservation(worker, call.legs_needed)
                continue
            self._placing = None
            self.queue.popleft()
            self._place(call, worker)

    def _place(self, call: CallDriver, worker: WorkerHandle) -> None:
        self.bucket.take()
        self.active += 1
        try:
            call.place(worker)
        except Exception:
            # One broken call must not stop this trunk's queue (nothing may wait forever).
            log.exception("[session=%s] placing the call failed", call.session.id)
            if not call.done.is_set():
                call.fail_before_placing("placing the call failed")
