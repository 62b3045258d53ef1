"""The worker pool: starts SIP worker processes, routes calls by load, replaces dead workers,
retires idle ones and aborts silent ones.

A thin asyncio layer: `PoolPolicy` decides, from the workers' state and the clock's `now`;
`WorkerSubprocess` does a process's I/O; this carries out the one with the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, assert_never

from engine import metrics
from engine.clock import Clock
from engine.config import TrunkConfig, WorkersConfig
from engine.controller.pool.handle import WorkerHandle
from engine.controller.pool.policy import (
    Abort,
    AskForStats,
    PoolPolicy,
    WorkerState,
    first_free_slot,
)
from engine.controller.pool.process import DEFAULT_WORKER_COMMAND, Unreadable, WorkerSubprocess
from engine.errors import NoWorkerAvailable
from engine.ipc.doorbell import Doorbell
from engine.ipc.messages import ConfigureTrunk, FromWorker, Ready, Shutdown, Stats, StatsRequest
from engine.ipc.worker_options import WorkerOptions

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 15.0

MessageHandler = Callable[[WorkerHandle, FromWorker], None]
LossHandler = Callable[[WorkerHandle, set[str]], None]


def configure_trunk_message(trunk: TrunkConfig, public_address: str) -> ConfigureTrunk:
    scheme = "sips" if trunk.transport == "tls" else "sip"
    transport = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
    user = trunk.username or "voice-engine"
    return ConfigureTrunk(
        name=trunk.name,
        registrar_uri=f"{scheme}:{trunk.host}:{trunk.port}{transport}"
        if trunk.registration
        else None,
        id_uri=f"{scheme}:{user}@{trunk.host if trunk.registration else public_address}",
        username=trunk.username,
        password=trunk.password.get_secret_value() if trunk.password else None,
        realm=trunk.realm,
        register_expires=trunk.register_expires,
        transport=trunk.transport,
    )


class WorkerPool:
    def __init__(
        self,
        config: WorkersConfig,
        trunks: list[TrunkConfig],
        on_message: MessageHandler,
        on_lost: LossHandler,
        log_level: int = 1,
        *,
        clock: Clock,
    ) -> None:
        self.config = config
        self._policy = PoolPolicy.from_config(config)
        self._clock = clock
        self._command = tuple(config.command) if config.command else DEFAULT_WORKER_COMMAND
        self._trunk_messages = [configure_trunk_message(t, config.public_address) for t in trunks]
        """Sent to every worker as it starts (the trunks are fixed for the pool's life)."""
        self._on_message = on_message
        self._on_lost = on_lost
        self._log_level = log_level
        self.workers: dict[int, WorkerHandle] = {}
        """By slot."""
        self._next_id = 1
        self._capacity_changed = asyncio.Event()
        """Set when a slot frees or a worker starts or dies; acquire() re-checks then."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._starting_slots: set[int] = set()
        """Slots whose worker process is being created (not yet in `workers`)."""
        self._closing = False
        self.restarts = 0
        self._doorbell = Doorbell(config.public_address)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        starting = [self._spawn() for _ in range(self.config.min_workers)]
        await asyncio.gather(*starting)
        self._background(self._shrink_loop())
        self._background(self._watchdog_loop())

    async def stop(self, timeout: float = 10.0) -> None:
        self._closing = True
        workers = list(self.workers.values())
        for worker in workers:
            worker.state = WorkerState.STOPPING
            worker.send(Shutdown())
        for worker in workers:
            try:
                await asyncio.wait_for(worker.process.wait(), timeout)
            except TimeoutError:
                log.warning(
                    "worker %d did not stop in %.0f s: killing it", worker.worker_id, timeout
                )
                worker.process.kill()
                await worker.process.wait()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._doorbell.close()

    # ------------------------------------------------------------------ capacity

    def ready_workers(self) -> list[WorkerHandle]:
        return [w for w in self.workers.values() if w.state is WorkerState.READY]

    def free_slots(self) -> int:
        return sum(w.free for w in self.ready_workers())

    def worker_count(self) -> int:
        """Workers alive or being started (what max_workers limits)."""
        return len(self.workers) + len(self._starting_slots)

    def _starting_count(self) -> int:
        starting = sum(1 for w in self.workers.values() if w.state is WorkerState.STARTING)
        return starting + len(self._starting_slots)

    def _grow_ahead(self, free_slots: int, starting: int) -> None:
        """Start a worker in the background if the policy says so (`free_slots` on ready
        workers, `starting` workers on their way)."""
        if self._closing or not self._policy.grows_ahead(free_slots, starting, self.worker_count()):
            return

        slot = self._take_slot()  # now, not when the task first runs: counted at once

        async def grow() -> None:
            try:
                await self._spawn(slot)
            except NoWorkerAvailable as exc:
                log.error("could not add a worker: %s", exc)
                self._notify_capacity()  # wake acquire(): it may start one itself, or fail

        self._background(grow())

    async def acquire(self, slots: int = 1) -> WorkerHandle:
        """Reserve `slots` legs on one worker (the least loaded), starting a worker if needed.

        Waits while the pool is full; raises NoWorkerAvailable when a needed worker cannot start.
        """
        if not self._policy.fits(slots):
            raise NoWorkerAvailable(f"{slots} legs do not fit in one worker")
        while True:
            self._capacity_changed.clear()  # checked below with no await in between
            reserved = self.try_acquire(slots)
            if reserved is not None:
                return reserved
            if self._closing:
                raise NoWorkerAvailable("the engine is stopping")
            if self._policy.starts_for_waiting_call(self._starting_count(), self.worker_count()):
                worker = await self._spawn()
                if worker.free >= slots:
                    worker.reserved += slots
                    self._grow_ahead(self.free_slots(), self._starting_count())
                    return worker
                continue
            await self._capacity_changed.wait()

    def try_acquire(self, slots: int = 1) -> WorkerHandle | None:
        """Reserve `slots` legs on the least loaded ready worker that has them, if one has."""
        placement = self._policy.place(self.workers.values(), slots)
        worker = placement.worker
        if worker is None:
            return None
        worker.reserved += slots
        self._grow_ahead(
            placement.free_slots - slots, placement.starting + len(self._starting_slots)
        )
        return worker

    def bind_leg(self, worker: WorkerHandle, leg_id: str) -> None:
        """Turn one reserved slot into a leg (just before its MakeCall is sent)."""
        worker.reserved = max(0, worker.reserved - 1)
        worker.legs.add(leg_id)

    def release_reservation(self, worker: WorkerHandle, slots: int = 1) -> None:
        worker.reserved = max(0, worker.reserved - slots)
        self._notify_capacity()

    def leg_ended(self, worker: WorkerHandle, leg_id: str) -> None:
        worker.legs.discard(leg_id)
        if worker.load == 0:
            worker.idle_since = self._clock.monotonic()
        self._notify_capacity()

    def request_stats(self) -> None:
        for worker in self.ready_workers():
            worker.send(StatsRequest())

    # ------------------------------------------------------------------ processes

    def _take_slot(self) -> int:
        slot = first_free_slot(self.workers.keys() | self._starting_slots)
        self._starting_slots.add(slot)
        return slot

    async def _spawn(self, slot: int | None = None) -> WorkerHandle:
        # The slot is taken before the first await: two spawns at once must not share ports.
        if slot is None:
            slot = self._take_slot()
        try:
            return await self._start_worker(slot)
        finally:
            self._starting_slots.discard(slot)

    def _worker_options(self, worker_id: int, slot: int, ipc_fd: int) -> WorkerOptions:
        config = self.config
        return WorkerOptions(
            worker_id=worker_id,
            ipc_fd=ipc_fd,
            sip_port=config.sip_port_base + slot if config.sip_port_base else 0,
            bind_address=config.public_address,
            rtp_port_base=config.rtp_port_base + slot * config.rtp_ports_per_worker,
            rtp_port_count=config.rtp_ports_per_worker,
            clock_rate=config.clock_rate,
            max_calls=config.calls_per_worker,
            log_level=self._log_level,
            nice=config.nice,
        )

    async def _start_worker(self, slot: int) -> WorkerHandle:
        worker_id = self._next_id
        self._next_id += 1
        process = await WorkerSubprocess.start(
            self._command, functools.partial(self._worker_options, worker_id, slot), self._doorbell
        )
        now = self._clock.monotonic()
        worker = WorkerHandle(
            slot=slot,
            worker_id=worker_id,
            process=process,
            capacity=self.config.calls_per_worker,
            idle_since=now,
            last_heard=now,
        )
        self.workers[slot] = worker
        self._starting_slots.discard(slot)
        self._background(self._read(worker))
        self._background(self._watch(worker))
        self._background(process.relay_stderr())
        try:
            await asyncio.wait_for(worker.ready.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            raise NoWorkerAvailable(f"worker {worker_id} did not become ready") from None
        if worker.state is not WorkerState.STARTING:
            raise NoWorkerAvailable(f"worker {worker_id} exited while starting")
        # Trunks before READY: once READY, acquire() may hand the worker a MakeCall at once.
        for message in self._trunk_messages:
            worker.send(message)
        worker.state = WorkerState.READY
        log.info("worker %d ready on SIP port %d (pid %d)", worker_id, worker.sip_port, process.pid)
        self._notify_capacity()
        return worker

    async def _read(self, worker: WorkerHandle) -> None:
        while (message := await worker.process.next_message()) is not None:
            worker.last_heard = self._clock.monotonic()
            worker.asked = False
            match message:
                case Unreadable(line=line):
                    log.error(
                        "worker %d sent an unreadable message: %r", worker.worker_id, line[:200]
                    )
                case Ready(sip_port=sip_port):
                    worker.sip_port = sip_port
                    worker.ready.set()
                case Stats():
                    worker.stats = message
                case _:
                    try:
                        self._on_message(worker, message)
                    except Exception:
                        log.exception(
                            "handling %s from worker %d failed", message.type, worker.worker_id
                        )

    async def _watch(self, worker: WorkerHandle) -> None:
        returncode = await worker.process.wait()
        expected = worker.state is WorkerState.STOPPING
        worker.state = WorkerState.DEAD
        worker.ready.set()
        worker.process.close()
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        lost = set(worker.legs)
        worker.legs.clear()
        worker.reserved = 0
        if not expected:
            log.error(
                "worker %d (pid %d) exited with status %s holding %d call(s)",
                worker.worker_id,
                worker.process.pid,
                returncode,
                len(lost),
            )
        if lost:
            self._on_lost(worker, lost)
        self._notify_capacity()
        if not expected and not self._closing:
            # A new worker takes the dead one's place (the shrink loop retires it if idle).
            self.restarts += 1
            metrics.worker_restarts_total.inc()
            if self._policy.has_room(self.worker_count()):
                try:
                    await self._spawn()
                except NoWorkerAvailable as exc:
                    log.error("could not replace worker %d: %s", worker.worker_id, exc)

    async def _shrink_loop(self) -> None:
        while True:
            await asyncio.sleep(self._policy.shrink_interval)
            now = self._clock.monotonic()
            for worker in self._policy.idle_to_stop(self.workers.values(), now):
                log.info("worker %d idle: stopping it", worker.worker_id)
                worker.state = WorkerState.STOPPING
                worker.send(Shutdown())

    async def _watchdog_loop(self) -> None:
        while True:
            await asyncio.sleep(self._policy.watchdog_interval)
            if self._closing:
                continue
            now = self._clock.monotonic()
            for action in self._policy.watchdog(self.workers.values(), now):
                match action:
                    case AskForStats(worker=worker):
                        worker.asked = True
                        worker.send(StatsRequest())
                    case Abort(worker=worker, silent_seconds=silent):
                        self._abort(worker, silent)
                    case _:
                        assert_never(action)

    def _abort(self, worker: WorkerHandle, silent: float) -> None:
        worker.aborted = True
        log.error(
            "worker %d (pid %d) has answered nothing for %.1f s holding %d call(s): aborting it",
            worker.worker_id,
            worker.process.pid,
            silent,
            len(worker.legs),
        )
        worker.process.abort()

    def _notify_capacity(self) -> None:
        self._capacity_changed.set()

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
