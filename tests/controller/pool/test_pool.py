"""The pool carrying out its policy: with stand-in processes and a fake clock, then with a scripted
worker started through `workers.command` (the SIP tests run real workers)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from engine.clock import SystemClock
from engine.config import WorkersConfig
from engine.controller.pool import WorkerHandle, WorkerPool, WorkerState
from engine.controller.pool.pool import MessageHandler
from engine.controller.pool.process import Unreadable
from engine.ipc.messages import (
    CallProgress,
    FromWorker,
    Message,
    Ready,
    Shutdown,
    Stats,
    StatsRequest,
)
from tests.controller.pool import scripted_worker
from tests.support.clock import FakeClock
from tests.support.engine import wait_until


class StandInProcess:
    """Takes a worker process's place: records what the pool sends it and does to it."""

    pid = 4242

    def __init__(self, says: list[FromWorker | Unreadable] | None = None) -> None:
        self.says = says or []
        self.sent: list[Message] = []
        self.aborts = 0

    def send(self, message: Message, doorbell_port: int) -> None:
        self.sent.append(message)

    async def next_message(self) -> FromWorker | Unreadable | None:
        return self.says.pop(0) if self.says else None

    async def wait(self) -> int:
        return 0

    def abort(self) -> None:
        self.aborts += 1

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_pool(clock: FakeClock) -> AsyncIterator[Callable[..., WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(on_message: MessageHandler = lambda *_: None, **workers: Any) -> WorkerPool:
        settings: dict[str, Any] = {"min_workers": 0, "calls_per_worker": 4}
        settings.update(workers)
        pools.append(
            WorkerPool(
                WorkersConfig(**settings),
                [],
                on_message=on_message,
                on_lost=lambda *_: None,
                clock=clock,
            )
        )
        return pools[-1]

    yield make
    for pool in pools:
        await pool.stop()


def handle(
    clock: FakeClock,
    slot: int,
    legs: int = 0,
    state: WorkerState = WorkerState.READY,
    process: StandInProcess | None = None,
) -> WorkerHandle:
    stand_in: Any = process or StandInProcess()
    worker = WorkerHandle(
        slot=slot,
        worker_id=slot + 1,
        process=stand_in,
        capacity=4,
        idle_since=clock.now,
        last_heard=clock.now,
        state=state,
    )
    worker.legs = {f"{slot}.{n}" for n in range(legs)}
    return worker


def add(pool: WorkerPool, clock: FakeClock, slot: int, **settings: Any) -> WorkerHandle:
    worker = handle(clock, slot, **settings)
    pool.workers[slot] = worker
    return worker


def sent_to(worker: WorkerHandle) -> list[Message]:
    stand_in: Any = worker.process
    sent: list[Message] = stand_in.sent
    return sent


def aborts_of(worker: WorkerHandle) -> int:
    stand_in: Any = worker.process
    aborts: int = stand_in.aborts
    return aborts


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[list[int]]:
    """Slots the pool started a worker for (a ready stand-in at once)."""
    slots: list[int] = []

    async def spawn(self: WorkerPool, slot: int | None = None) -> WorkerHandle:
        if slot is None:
            slot = self._take_slot()
        self._starting_slots.discard(slot)
        slots.append(slot)
        return add(self, clock, slot)

    monkeypatch.setattr(WorkerPool, "_spawn", spawn)
    yield slots


# ---------------------------------------------------------------------- capacity


def test_a_workers_load_is_its_legs_and_its_reservations(clock: FakeClock) -> None:
    worker = handle(clock, 0, legs=1)
    worker.reserved = 2
    assert (worker.load, worker.free) == (3, 1)
    worker.state = WorkerState.STOPPING
    assert worker.free == 0


async def test_the_least_loaded_ready_worker_is_chosen_and_reserved(
    make_pool: Callable[..., WorkerPool], clock: FakeClock, spawned: list[int]
) -> None:
    pool = make_pool(max_workers=4)
    add(pool, clock, 3, legs=1)  # first in the pool's order, as a replaced worker's slot can be
    add(pool, clock, 0, legs=3)
    add(pool, clock, 2, legs=1)
    add(pool, clock, 1, legs=0, state=WorkerState.STOPPING)

    chosen = pool.try_acquire()
    assert chosen is not None and chosen.slot == 2
    assert chosen.reserved == 1
    # Slot 2 now carries 2 (a leg and a reservation), so slot 3 is the least loaded.
    second = pool.try_acquire()
    assert second is not None and second.slot == 3


async def test_no_worker_with_room_for_all_legs_reserves_nothing(
    make_pool: Callable[..., WorkerPool], clock: FakeClock, spawned: list[int]
) -> None:
    pool = make_pool(max_workers=2)
    add(pool, clock, 0, legs=1)
    add(pool, clock, 1, legs=3)
    chosen = pool.try_acquire(slots=3)
    assert chosen is not None and chosen.slot == 0
    assert pool.try_acquire(slots=2) is None
    assert [w.reserved for w in pool.workers.values()] == [3, 0]
    assert spawned == []  # no room left to grow


async def test_grows_ahead_in_the_background_when_less_than_a_worker_of_slots_stays_free(
    make_pool: Callable[..., WorkerPool], clock: FakeClock, spawned: list[int]
) -> None:
    pool = make_pool(max_workers=3)
    add(pool, clock, 0, legs=2)
    add(pool, clock, 1, legs=1)
    assert pool.try_acquire() is not None  # 5 - 1 = 4 free: enough
    assert spawned == []
    assert pool.try_acquire() is not None  # 3 free: a worker starts in the background
    assert pool._starting_slots == {2}
    assert pool.worker_count() == 3
    await wait_until(lambda: spawned == [2], 5, "the worker grown ahead")
    assert pool.try_acquire() is not None  # 6 free now: no more
    assert spawned == [2]


async def test_a_starting_worker_counts_as_headroom(
    make_pool: Callable[..., WorkerPool], clock: FakeClock, spawned: list[int]
) -> None:
    pool = make_pool(max_workers=4)
    add(pool, clock, 0, legs=3)
    add(pool, clock, 1, state=WorkerState.STARTING)
    assert pool.try_acquire() is not None  # 0 free on ready workers, one worker on its way
    assert spawned == [] and pool._starting_slots == set()


async def test_a_call_that_finds_no_room_starts_a_worker_and_waits_for_it(
    make_pool: Callable[..., WorkerPool], clock: FakeClock, spawned: list[int]
) -> None:
    pool = make_pool(max_workers=2)
    add(pool, clock, 0, legs=4)
    worker = await pool.acquire(slots=2)
    assert worker.slot == 1 and worker.reserved == 2
    assert spawned == [1]


async def test_the_last_leg_ending_marks_the_worker_idle_by_the_pools_clock(
    make_pool: Callable[..., WorkerPool], clock: FakeClock
) -> None:
    pool = make_pool()
    worker = add(pool, clock, 0, legs=2)
    clock.advance(7)
    pool.leg_ended(worker, "0.0")
    assert worker.idle_since == clock.now - 7
    clock.advance(3)
    pool.leg_ended(worker, "0.1")
    assert worker.idle_since == clock.now


# ---------------------------------------------------------------------- supervision


async def test_idle_workers_beyond_min_workers_are_asked_to_stop(
    make_pool: Callable[..., WorkerPool], clock: FakeClock, spawned: list[int]
) -> None:
    # Binary fractions of a second here: the fake clock adds them without rounding.
    pool = make_pool(min_workers=1, idle_shrink_seconds=0.0625)
    await pool.start()  # starts slot 0, and the shrink loop
    assert spawned == [0]
    workers = [pool.workers[0], add(pool, clock, 1), add(pool, clock, 2)]
    clock.advance(0.0625)
    await wait_until(
        lambda: [sent_to(w) for w in workers] == [[], [Shutdown()], [Shutdown()]],
        5,
        "the two idle workers above min_workers to be stopped",
    )
    assert [w.state for w in workers] == [WorkerState.READY, *[WorkerState.STOPPING] * 2]


async def test_a_silent_worker_is_asked_once_then_aborted_once(
    make_pool: Callable[..., WorkerPool], clock: FakeClock
) -> None:
    pool = make_pool(unresponsive_seconds=0.125)
    await pool.start()  # no worker (min_workers 0): only the loops
    silent = add(pool, clock, 0, legs=1)
    clock.advance(0.0625)
    await wait_until(lambda: sent_to(silent) == [StatsRequest()], 5, "a stats request")
    assert silent.asked and aborts_of(silent) == 0
    clock.advance(0.0625)
    await wait_until(lambda: aborts_of(silent) == 1, 5, "the silent worker to be aborted")
    assert silent.aborted
    # Once a worker added now is asked, the watchdog has looked at the first one again.
    later = add(pool, clock, 1, state=WorkerState.STOPPING)
    clock.advance(0.0625)
    await wait_until(lambda: sent_to(later) == [StatsRequest()], 5, "the second worker asked")
    assert sent_to(silent) == [StatsRequest()] and aborts_of(silent) == 1


async def test_what_a_worker_says_is_dispatched_and_counts_as_hearing_from_it(
    make_pool: Callable[..., WorkerPool], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[FromWorker] = []

    def on_message(worker: WorkerHandle, message: FromWorker) -> None:
        handled.append(message)
        raise RuntimeError("a handler's bug")  # logged; the next message is still read

    pool = make_pool(on_message=on_message)
    stats = Stats(active_calls=1, rss_bytes=2, cpu_seconds=3.0)
    progress = CallProgress(call_id="c", sip_code=180, reason="Ringing", progress_at=1.0)
    says: list[FromWorker | Unreadable] = [
        Ready(worker_id=1, sip_port=5088, pid=4242),
        Unreadable(b"garbage\n"),
        stats,
        progress,
        progress,
    ]
    worker = add(pool, clock, 0, state=WorkerState.STARTING, process=StandInProcess(says))
    worker.asked = True
    clock.advance(5)
    await pool._read(worker)
    assert worker.ready.is_set() and worker.sip_port == 5088
    assert worker.stats == stats
    assert handled == [progress, progress]
    assert worker.last_heard == clock.now and not worker.asked
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("unreadable message: b'garbage\\n'" in line for line in errors), errors
    assert sum("handling call_progress from worker 1 failed" in line for line in errors) == 2


# ---------------------------------------------------------------------- workers.command


async def test_the_configured_command_starts_the_workers() -> None:
    config = WorkersConfig(min_workers=1, max_workers=1, command=scripted_worker.command("answers"))
    pool = WorkerPool(config, [], lambda *_: None, lambda *_: None, clock=SystemClock())
    await pool.start()
    try:
        [worker] = pool.ready_workers()
        assert worker.sip_port > 0  # from the scripted worker's Ready
        pool.request_stats()
        await wait_until(lambda: worker.stats is not None, 10, "the worker's stats")
    finally:
        await pool.stop()
    assert worker.process.returncode == 0  # it exited on Shutdown
    assert worker.state is WorkerState.DEAD and pool.restarts == 0


async def test_a_worker_that_answers_nothing_is_aborted_and_replaced() -> None:
    config = WorkersConfig(
        min_workers=1,
        max_workers=1,
        unresponsive_seconds=0.4,
        command=scripted_worker.command("mute"),
    )
    pool = WorkerPool(config, [], lambda *_: None, lambda *_: None, clock=SystemClock())
    await pool.start()
    try:
        [mute] = pool.ready_workers()
        await wait_until(
            lambda: [w for w in pool.ready_workers() if w is not mute] != [],
            10,
            "the mute worker to be replaced",
        )
        assert pool.restarts == 1
        assert mute.asked and mute.aborted and mute.state is WorkerState.DEAD
        assert mute.process.returncode is not None and mute.process.returncode < 0
    finally:
        await pool.stop()
