"""The worker pool: spawn SIP worker processes, route calls by load, notice deaths, shrink.

Each worker is `python -m engine.worker` with one end of a Unix socketpair; the controller never
imports pjsua2. A worker holds at most `calls_per_worker` legs; a slot is reserved before the
MakeCall is sent and freed when the leg's CallEnded arrives (or the worker dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine import metrics
from engine.config import TrunkConfig, WorkersConfig
from engine.errors import NoWorkerAvailable
from engine.ipc.codec import decode_from_worker, encode
from engine.ipc.doorbell import Doorbell
from engine.ipc.messages import (
    ConfigureTrunk,
    FromWorker,
    Message,
    Ready,
    Shutdown,
    Stats,
    StatsRequest,
)
from engine.ipc.worker_options import WorkerOptions

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 15.0
ABORT_GRACE_SECONDS = 2.0
"""After SIGABRT (faulthandler then logs the worker's stacks), how long before SIGKILL: a
stopped or wedged process may never act on the first."""
WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "engine.worker")
"""What a worker runs, before its options: bench/controller_cpu.py puts a worker without SIP
here, to measure the controller alone."""
PJSIP_LOG_LINE = re.compile(rb"^\d\d:\d\d:\d\d\.\d{3} ")
"""PJSIP's own log lines ("23:19:19.308  os_core_unix.c !pjlib ..."): debug detail."""


class WorkerState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    DEAD = "dead"


@dataclass(eq=False)
class Worker:
    slot: int
    """Index in the pool; decides the worker's SIP and RTP port ranges."""
    worker_id: int
    """Unique for the life of the controller."""
    process: asyncio.subprocess.Process
    writer: asyncio.StreamWriter
    capacity: int
    state: WorkerState = WorkerState.STARTING
    sip_port: int = 0
    legs: set[str] = field(default_factory=set)
    reserved: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    stats: Stats | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    doorbell: Doorbell | None = None
    last_heard: float = field(default_factory=time.monotonic)
    """When the worker last sent anything (the watchdog asks a silent one how it is)."""
    asked: bool = False
    """Asked for its stats since it last sent anything."""
    aborted: bool = False

    @property
    def load(self) -> int:
        return len(self.legs) + self.reserved

    @property
    def free(self) -> int:
        return self.capacity - self.load if self.state is WorkerState.READY else 0

    def send(self, message: Message) -> None:
        if self.state is not WorkerState.DEAD and not self.writer.is_closing():
            self.writer.write(encode(message))
            if self.doorbell is not None and self.sip_port:
                self.doorbell.ring(self.sip_port)


MessageHandler = Callable[[Worker, FromWorker], None]
LossHandler = Callable[[Worker, set[str]], None]


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
    ) -> None:
        self.config = config
        self._trunk_messages = [configure_trunk_message(t, config.public_address) for t in trunks]
        """Sent to every worker as it starts (the trunks are fixed for the pool's life)."""
        self._on_message = on_message
        self._on_lost = on_lost
        self._log_level = log_level
        self.workers: dict[int, Worker] = {}
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
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._doorbell.close()

    # ------------------------------------------------------------------ capacity

    def ready_workers(self) -> list[Worker]:
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
        """Start a worker in the background when less than one worker's worth of slots is free
        (`free_slots` on ready workers, `starting` workers on their way).

        Spawning takes about 0.25 s; growing only when a call finds no slot would stall the
        dialer for that long every `calls_per_worker` calls during a ramp.
        """
        if self._closing or self.worker_count() >= self.config.max_workers:
            return
        headroom = free_slots + starting * self.config.calls_per_worker
        if headroom >= self.config.calls_per_worker:
            return

        slot = self._take_slot()  # now, not when the task first runs: counted at once

        async def grow() -> None:
            try:
                await self._spawn(slot)
            except NoWorkerAvailable as exc:
                log.error("could not add a worker: %s", exc)
                self._notify_capacity()  # wake acquire(): it may start one itself, or fail

        self._background(grow())

    async def acquire(self, slots: int = 1) -> Worker:
        """Reserve `slots` legs on one worker (the least loaded), starting a worker if needed.

        Waits while the pool is full; raises NoWorkerAvailable when a needed worker cannot start.
        """
        if slots > self.config.calls_per_worker:
            raise NoWorkerAvailable(f"{slots} legs do not fit in one worker")
        while True:
            self._capacity_changed.clear()  # checked below with no await in between
            reserved = self.try_acquire(slots)
            if reserved is not None:
                return reserved
            if self._closing:
                raise NoWorkerAvailable("the engine is stopping")
            if self._starting_count() == 0 and self.worker_count() < self.config.max_workers:
                worker = await self._spawn()
                if worker.free >= slots:
                    worker.reserved += slots
                    self._grow_ahead(self.free_slots(), self._starting_count())
                    return worker
                continue
            await self._capacity_changed.wait()

    def try_acquire(self, slots: int = 1) -> Worker | None:
        """Reserve `slots` legs on the least loaded ready worker that has them, if one has.

        One pass over the pool, which also counts what `_grow_ahead` needs: on every call, with
        a worker per call a second at high rates (py-spy at 104/s: 4% of the controller when
        this took four passes)."""
        best: Worker | None = None
        best_load = 0
        free_slots = 0
        starting = len(self._starting_slots)
        for worker in self.workers.values():
            if worker.state is not WorkerState.READY:
                starting += worker.state is WorkerState.STARTING
                continue
            load = len(worker.legs) + worker.reserved
            free = worker.capacity - load
            free_slots += free
            if free >= slots and (
                best is None or load < best_load or (load == best_load and worker.slot < best.slot)
            ):
                best, best_load = worker, load
        if best is None:
            return None
        best.reserved += slots
        self._grow_ahead(free_slots - slots, starting)
        return best

    def bind_leg(self, worker: Worker, leg_id: str) -> None:
        """Turn one reserved slot into a leg (just before its MakeCall is sent)."""
        worker.reserved = max(0, worker.reserved - 1)
        worker.legs.add(leg_id)

    def release_reservation(self, worker: Worker, slots: int = 1) -> None:
        worker.reserved = max(0, worker.reserved - slots)
        self._notify_capacity()

    def leg_ended(self, worker: Worker, leg_id: str) -> None:
        worker.legs.discard(leg_id)
        if worker.load == 0:
            worker.idle_since = time.monotonic()
        self._notify_capacity()

    def request_stats(self) -> None:
        for worker in self.ready_workers():
            worker.send(StatsRequest())

    # ------------------------------------------------------------------ processes

    def _free_slot(self) -> int:
        slot = 0
        while slot in self.workers or slot in self._starting_slots:
            slot += 1
        return slot

    def _take_slot(self) -> int:
        slot = self._free_slot()
        self._starting_slots.add(slot)
        return slot

    async def _spawn(self, slot: int | None = None) -> Worker:
        # The slot is taken before the first await: two spawns at once must not share ports.
        if slot is None:
            slot = self._take_slot()
        try:
            return await self._start_worker(slot)
        finally:
            self._starting_slots.discard(slot)

    async def _start_worker(self, slot: int) -> Worker:
        worker_id = self._next_id
        self._next_id += 1
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sip_port = self.config.sip_port_base + slot if self.config.sip_port_base else 0
        rtp_base = self.config.rtp_port_base + slot * self.config.rtp_ports_per_worker
        try:
            options = WorkerOptions(
                worker_id=worker_id,
                ipc_fd=theirs.fileno(),
                sip_port=sip_port,
                bind_address=self.config.public_address,
                rtp_port_base=rtp_base,
                rtp_port_count=self.config.rtp_ports_per_worker,
                clock_rate=self.config.clock_rate,
                max_calls=self.config.calls_per_worker,
                log_level=self._log_level,
                nice=self.config.nice,
            )
            process = await asyncio.create_subprocess_exec(
                *WORKER_COMMAND,
                *options.argv(),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=1 << 20)
        worker = Worker(
            slot=slot,
            worker_id=worker_id,
            process=process,
            writer=writer,
            capacity=self.config.calls_per_worker,
            doorbell=self._doorbell,
        )
        self.workers[slot] = worker
        self._starting_slots.discard(slot)
        self._background(self._read(worker, reader))
        self._background(self._watch(worker))
        if process.stderr is not None:
            self._background(_relay_log(worker_id, process.stderr))
        try:
            await asyncio.wait_for(worker.ready.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
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

    async def _read(self, worker: Worker, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except ConnectionError:
                return  # the worker died; _watch reports it
            if not line:
                return
            worker.last_heard = time.monotonic()
            worker.asked = False
            try:
                message = decode_from_worker(line)
            except ValueError:
                log.error("worker %d sent an unreadable message: %r", worker.worker_id, line[:200])
                continue
            if isinstance(message, Ready):
                worker.sip_port = message.sip_port
                worker.ready.set()
            elif isinstance(message, Stats):
                worker.stats = message
            else:
                try:
                    self._on_message(worker, message)
                except Exception:
                    log.exception(
                        "handling %s from worker %d failed", message.type, worker.worker_id
                    )

    async def _watch(self, worker: Worker) -> None:
        returncode = await worker.process.wait()
        expected = worker.state is WorkerState.STOPPING
        worker.state = WorkerState.DEAD
        worker.ready.set()
        worker.writer.close()
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
            if self.worker_count() < self.config.max_workers:
                try:
                    await self._spawn()
                except NoWorkerAvailable as exc:
                    log.error("could not replace worker %d: %s", worker.worker_id, exc)

    async def _shrink_loop(self) -> None:
        interval = min(5.0, self.config.idle_shrink_seconds / 2)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            idle = sorted(
                (
                    w
                    for w in self.ready_workers()
                    if w.load == 0 and now - w.idle_since >= self.config.idle_shrink_seconds
                ),
                key=lambda w: -w.slot,
            )
            surplus = len(self.ready_workers()) - self.config.min_workers
            for worker in idle[: max(0, surplus)]:
                log.info("worker %d idle: stopping it", worker.worker_id)
                worker.state = WorkerState.STOPPING
                worker.send(Shutdown())

    async def _watchdog_loop(self) -> None:
        """A worker that is alive but answers nothing (wedged inside PJSIP, stopped) would hold
        its sessions open for ever: one silent for half of `unresponsive_seconds` is asked for
        its stats, and one still silent after all of it is aborted, so that its calls fail as
        "worker lost" and a new worker takes its place, as when one dies."""
        limit = self.config.unresponsive_seconds
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            if self._closing:
                continue
            now = time.monotonic()
            for worker in list(self.workers.values()):
                if worker.state not in (WorkerState.READY, WorkerState.STOPPING):
                    continue
                silent = now - worker.last_heard
                if silent >= limit:
                    self._abort(worker, silent)
                elif silent >= limit / 2 and not worker.asked:
                    worker.asked = True
                    worker.send(StatsRequest())

    def _abort(self, worker: Worker, silent: float) -> None:
        if worker.aborted:
            return
        worker.aborted = True
        log.error(
            "worker %d (pid %d) has answered nothing for %.1f s holding %d call(s): aborting it",
            worker.worker_id,
            worker.process.pid,
            silent,
            len(worker.legs),
        )
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGABRT)
        asyncio.get_running_loop().call_later(ABORT_GRACE_SECONDS, self._kill, worker)

    @staticmethod
    def _kill(worker: Worker) -> None:
        if worker.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()

    def _notify_capacity(self) -> None:
        self._capacity_changed.set()

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _relay_log(worker_id: int, stream: asyncio.StreamReader) -> None:
    """A worker's stderr into the controller's log (and its redaction): PJSIP's chatter at
    debug level, anything else (warnings, a traceback before a crash) as a warning."""
    worker_log = logging.getLogger(f"engine.worker.{worker_id}")
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip()
        if text:
            level = logging.DEBUG if PJSIP_LOG_LINE.match(line) else logging.WARNING
            worker_log.log(level, "%s", text)
