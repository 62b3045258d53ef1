"""The pool's decisions as data: placement, growing ahead, shrinking, the watchdog."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from engine.config import WorkersConfig
from engine.controller.pool.policy import (
    Abort,
    AskForStats,
    PoolPolicy,
    WorkerState,
    first_free_slot,
)
from tests.support.clock import FakeClock

READY = WorkerState.READY
STARTING = WorkerState.STARTING
STOPPING = WorkerState.STOPPING
DEAD = WorkerState.DEAD


@dataclass(frozen=True)
class Seen:
    """A worker as the policy reads it."""

    slot: int
    state: WorkerState = READY
    capacity: int = 4
    load: int = 0
    idle_since: float = 0.0
    last_heard: float = 0.0
    asked: bool = False
    aborted: bool = False


DEFAULTS = PoolPolicy(
    min_workers=1,
    max_workers=4,
    calls_per_worker=4,
    idle_shrink_seconds=30.0,
    unresponsive_seconds=10.0,
)


def policy(**limits: Any) -> PoolPolicy:
    return replace(DEFAULTS, **limits)


def test_the_limits_come_from_the_workers_config() -> None:
    config = WorkersConfig(
        min_workers=2,
        max_workers=6,
        calls_per_worker=3,
        idle_shrink_seconds=12,
        unresponsive_seconds=8,
    )
    assert PoolPolicy.from_config(config) == policy(
        min_workers=2,
        max_workers=6,
        calls_per_worker=3,
        idle_shrink_seconds=12,
        unresponsive_seconds=8,
    )


def test_the_loops_look_often_enough_for_short_limits() -> None:
    assert policy().shrink_interval == 5.0
    assert policy(idle_shrink_seconds=4).shrink_interval == 2.0
    assert policy().watchdog_interval == 1.0
    assert policy(unresponsive_seconds=2).watchdog_interval == 0.5


# ---------------------------------------------------------------------- placement


def test_the_least_loaded_ready_worker_is_chosen_ties_to_the_lowest_slot() -> None:
    # Slot 3 first, as a replaced worker's slot can be in the pool's order.
    workers = [Seen(3, load=1), Seen(0, load=3), Seen(2, load=1), Seen(1, load=2)]
    placement = policy().place(workers, 1)
    assert placement.worker is workers[2]
    assert placement.free_slots == 3 + 1 + 3 + 2
    assert placement.starting == 0


def test_a_worker_without_room_for_all_the_legs_is_skipped() -> None:
    workers = [Seen(0, load=1), Seen(1, load=3)]
    assert policy().place(workers, 3).worker is workers[0]
    none_fits = policy().place([Seen(0, load=2), Seen(1, load=3)], 3)
    assert none_fits.worker is None
    assert none_fits.free_slots == 3


def test_only_ready_workers_take_calls_and_starting_ones_are_counted() -> None:
    workers = [
        Seen(0, state=STARTING),
        Seen(1, state=STOPPING),
        Seen(2, state=DEAD),
        Seen(3, state=STARTING),
        Seen(4, load=3),
    ]
    placement = policy().place(workers, 1)
    assert placement.worker is workers[4]
    assert placement.free_slots == 1  # free slots on ready workers only
    assert placement.starting == 2
    assert policy().place(workers[:4], 1).worker is None


def test_legs_fit_in_one_worker_or_not_at_all() -> None:
    assert policy(calls_per_worker=2).fits(2)
    assert not policy(calls_per_worker=2).fits(3)


# ---------------------------------------------------------------------- growing


def test_grows_ahead_when_less_than_a_worker_of_slots_stays_free() -> None:
    assert not policy().grows_ahead(free_slots=4, starting=0, worker_count=2)
    assert policy().grows_ahead(free_slots=3, starting=0, worker_count=2)


def test_a_starting_worker_counts_as_a_worker_of_headroom() -> None:
    assert not policy().grows_ahead(free_slots=0, starting=1, worker_count=2)


def test_never_grows_past_max_workers() -> None:
    assert not policy(max_workers=2).grows_ahead(free_slots=0, starting=0, worker_count=2)
    assert not policy(max_workers=2).has_room(2)
    assert policy(max_workers=2).has_room(1)


def test_a_waiting_call_starts_a_worker_only_when_none_is_on_its_way_and_there_is_room() -> None:
    assert policy().starts_for_waiting_call(starting=0, worker_count=3)
    assert not policy().starts_for_waiting_call(starting=1, worker_count=3)
    assert not policy().starts_for_waiting_call(starting=0, worker_count=4)


def test_a_new_worker_takes_the_lowest_free_slot() -> None:
    assert first_free_slot(set()) == 0
    assert first_free_slot({0, 1, 3}) == 2
    assert first_free_slot({1, 2}) == 0


# ---------------------------------------------------------------------- shrinking


def test_idle_workers_stop_highest_slots_first_keeping_min_workers() -> None:
    clock = FakeClock()
    workers = [Seen(slot, idle_since=clock.now) for slot in range(4)]
    clock.advance(30)
    stopped = policy(min_workers=2).idle_to_stop(workers, clock.now)
    assert [w.slot for w in stopped] == [3, 2]


def test_a_worker_is_idle_only_without_load_and_for_long_enough() -> None:
    clock = FakeClock()
    busy = Seen(3, load=1, idle_since=clock.now - 60)  # a reservation counts as load too
    lately_idle = Seen(2, idle_since=clock.now - 29.9)
    long_idle = Seen(1, idle_since=clock.now - 30)
    stopped = policy(min_workers=0).idle_to_stop(
        [Seen(0, state=STARTING), busy, lately_idle, long_idle], clock.now
    )
    assert stopped == [long_idle]


def test_min_workers_counts_ready_workers_only() -> None:
    clock = FakeClock()
    workers = [
        Seen(0, idle_since=clock.now),
        Seen(1, idle_since=clock.now),
        Seen(2, state=STOPPING),
        Seen(3, state=STARTING),
    ]
    clock.advance(30)
    assert [w.slot for w in policy(min_workers=1).idle_to_stop(workers, clock.now)] == [1]
    assert policy(min_workers=2).idle_to_stop(workers, clock.now) == []


# ---------------------------------------------------------------------- watchdog


@pytest.mark.parametrize(
    ("silent", "expected"),
    [(4.9, []), (5.0, [AskForStats]), (9.9, [AskForStats]), (10.0, [Abort])],
)
def test_a_silent_worker_is_asked_at_half_the_limit_and_aborted_at_all_of_it(
    silent: float, expected: list[type]
) -> None:
    clock = FakeClock()
    worker = Seen(0, last_heard=clock.now)
    clock.advance(silent)
    actions = policy(unresponsive_seconds=10).watchdog([worker], clock.now)
    assert [type(action) for action in actions] == expected
    assert all(action.worker is worker for action in actions)


def test_the_abort_says_how_long_the_worker_was_silent() -> None:
    clock = FakeClock()
    worker = Seen(0, last_heard=clock.now, asked=True)
    clock.advance(12.5)
    assert policy(unresponsive_seconds=10).watchdog([worker], clock.now) == [Abort(worker, 12.5)]


def test_a_worker_is_asked_once_and_aborted_once() -> None:
    clock = FakeClock()
    worker = Seen(0, last_heard=clock.now)
    clock.advance(6)
    watchdog = policy(unresponsive_seconds=10).watchdog
    assert watchdog([replace(worker, asked=True)], clock.now) == []
    clock.advance(6)
    assert watchdog([replace(worker, asked=True, aborted=True)], clock.now) == []


def test_only_ready_and_stopping_workers_are_watched() -> None:
    clock = FakeClock()
    workers = [
        Seen(slot, state=state, last_heard=clock.now) for slot, state in enumerate(WorkerState)
    ]
    clock.advance(10)
    aborted = [a.worker.state for a in policy(unresponsive_seconds=10).watchdog(workers, clock.now)]
    assert aborted == [READY, STOPPING]
