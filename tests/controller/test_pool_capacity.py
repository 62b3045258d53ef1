"""The pool's choice of worker and its growing ahead, without processes (the SIP tests run them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.config import WorkersConfig
from engine.controller.pool import Worker, WorkerPool, WorkerState


@pytest.fixture
def make_pool() -> Iterator[Callable[[int], WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(max_workers: int) -> WorkerPool:
        config = WorkersConfig(min_workers=0, max_workers=max_workers, calls_per_worker=4)
        pools.append(WorkerPool(config, [], on_message=lambda *_: None, on_lost=lambda *_: None))
        return pools[-1]

    yield make
    for pool in pools:
        pool._doorbell.close()


def _add(
    pool: WorkerPool, slot: int, legs: int = 0, state: WorkerState = WorkerState.READY
) -> Worker:
    no_process: Any = None
    worker = Worker(slot, slot + 1, no_process, no_process, capacity=4, state=state)
    worker.legs = {f"{slot}.{n}" for n in range(legs)}
    pool.workers[slot] = worker
    return worker


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Slots the pool started a worker for in the background."""
    slots: list[int] = []

    async def spawn(self: WorkerPool, slot: int | None = None) -> Worker:
        assert slot is not None
        slots.append(slot)
        return _add(self, slot)

    monkeypatch.setattr(WorkerPool, "_spawn", spawn)
    return slots


async def test_the_least_loaded_ready_worker_is_chosen_ties_by_slot(
    make_pool: Callable[[int], WorkerPool], spawned: list[int]
) -> None:
    pool = make_pool(max_workers=4)
    _add(pool, 3, legs=1)  # first in the pool's order, as a replaced worker's slot can be
    _add(pool, 0, legs=3)
    _add(pool, 2, legs=1)
    _add(pool, 1, legs=0, state=WorkerState.STOPPING)

    chosen = pool.try_acquire()
    assert chosen is not None and chosen.slot == 2
    assert chosen.reserved == 1
    # Slot 2 now carries 2 (a leg and a reservation), so slot 3 is the least loaded.
    second = pool.try_acquire()
    assert second is not None and second.slot == 3


async def test_a_worker_without_room_for_all_legs_is_skipped(
    make_pool: Callable[[int], WorkerPool], spawned: list[int]
) -> None:
    pool = make_pool(max_workers=2)
    _add(pool, 0, legs=1)
    _add(pool, 1, legs=3)
    chosen = pool.try_acquire(slots=3)
    assert chosen is not None and chosen.slot == 0
    assert pool.try_acquire(slots=2) is None
    assert spawned == []  # no room left to grow


async def test_grows_ahead_when_less_than_a_worker_of_slots_stays_free(
    make_pool: Callable[[int], WorkerPool], spawned: list[int]
) -> None:
    pool = make_pool(max_workers=3)
    _add(pool, 0, legs=2)
    _add(pool, 1, legs=1)
    assert pool.try_acquire() is not None  # 5 - 1 = 4 free: enough
    assert spawned == []
    assert pool.try_acquire() is not None  # 3 free: a worker starts in the background
    assert pool._starting_slots == {2}
    for task in list(pool._tasks):
        await task
    assert spawned == [2]


async def test_a_starting_worker_counts_as_headroom(
    make_pool: Callable[[int], WorkerPool], spawned: list[int]
) -> None:
    pool = make_pool(max_workers=4)
    _add(pool, 0, legs=3)
    _add(pool, 1, state=WorkerState.STARTING)
    assert pool.try_acquire() is not None  # 0 free on ready workers, one worker on its way
    assert spawned == [] and pool._starting_slots == set()
