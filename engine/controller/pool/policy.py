"""The pool's decisions: where a call goes, when to grow, which workers to retire or abort.

Pure: the workers' state and `now` go in, a decision comes out, and the pool carries it out. No
asyncio, no processes, no clock: time is the `now` the caller passes.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from engine.config import WorkersConfig


class WorkerState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    DEAD = "dead"


class WorkerView(Protocol):
    """What the policy reads of a worker (the pool's WorkerHandle is one)."""

    @property
    def slot(self) -> int:
        """Index in the pool; ties between equally loaded workers go to the lowest."""
        ...

    @property
    def state(self) -> WorkerState: ...

    @property
    def capacity(self) -> int:
        """Legs the worker can hold at once."""
        ...

    @property
    def load(self) -> int:
        """Legs it holds plus slots reserved for legs about to be placed."""
        ...

    @property
    def idle_since(self) -> float:
        """When its load last fell to zero (the pool's monotonic clock)."""
        ...

    @property
    def last_heard(self) -> float:
        """When it last sent anything (the pool's monotonic clock)."""
        ...

    @property
    def asked(self) -> bool:
        """Asked for its stats since it last sent anything."""
        ...

    @property
    def aborted(self) -> bool:
        """Already sent the signal that ends a silent worker."""
        ...


W = TypeVar("W", bound=WorkerView)


@dataclass(frozen=True)
class Placement(Generic[W]):
    """Where a call's legs go, with the counts that decide whether to grow ahead."""

    worker: W | None
    """The least loaded ready worker with room for all the legs (ties to the lowest slot);
    None when no ready worker has that room."""
    free_slots: int
    """Free slots on all ready workers, before these legs are reserved."""
    starting: int
    """Workers in the pool still starting (not counting processes not yet in the pool)."""


@dataclass(frozen=True)
class AskForStats(Generic[W]):
    """The worker has been silent for half the limit: a request makes a live one answer."""

    worker: W
    """The silent worker."""


@dataclass(frozen=True)
class Abort(Generic[W]):
    """The worker has been silent for the whole limit: end it, so that its calls fail as
    "worker lost" and a new worker takes its place."""

    worker: W
    """The silent worker."""
    silent_seconds: float
    """How long it has sent nothing."""


WatchdogAction = AskForStats[W] | Abort[W]


@dataclass(frozen=True)
class PoolPolicy:
    """The pool's limits, and the decisions taken from them."""

    min_workers: int
    """Workers kept however idle."""
    max_workers: int
    """Workers alive or starting at most."""
    calls_per_worker: int
    """Legs one worker holds at once; also the headroom the pool keeps free by growing ahead."""
    idle_shrink_seconds: float
    """How long a worker without legs lives on before it is stopped."""
    unresponsive_seconds: float
    """Silence after which a worker is aborted; it is asked for its stats at half of it."""

    @classmethod
    def from_config(cls, config: WorkersConfig) -> PoolPolicy:
        return cls(
            min_workers=config.min_workers,
            max_workers=config.max_workers,
            calls_per_worker=config.calls_per_worker,
            idle_shrink_seconds=config.idle_shrink_seconds,
            unresponsive_seconds=config.unresponsive_seconds,
        )

    @property
    def shrink_interval(self) -> float:
        """How often to look for idle workers."""
        return min(5.0, self.idle_shrink_seconds / 2)

    @property
    def watchdog_interval(self) -> float:
        """How often to look for silent workers."""
        return min(1.0, self.unresponsive_seconds / 4)

    def fits(self, legs: int) -> bool:
        """Whether a call's legs fit in one worker at all."""
        return legs <= self.calls_per_worker

    def place(self, workers: Iterable[W], legs: int) -> Placement[W]:
        """The worker for `legs` legs, in one pass that also counts what growing ahead needs:
        placement runs on every call, over many workers at high rates."""
        best: W | None = None
        best_load = 0
        free_slots = 0
        starting = 0
        for worker in workers:
            state = worker.state
            if state is not WorkerState.READY:
                starting += state is WorkerState.STARTING
                continue
            load = worker.load
            free = worker.capacity - load
            free_slots += free
            if free >= legs and (
                best is None or load < best_load or (load == best_load and worker.slot < best.slot)
            ):
                best, best_load = worker, load
        return Placement(best, free_slots, starting)

    def has_room(self, worker_count: int) -> bool:
        """Whether one more worker stays within `max_workers` (`worker_count`: alive or
        starting)."""
        return worker_count < self.max_workers

    def grows_ahead(self, free_slots: int, starting: int, worker_count: int) -> bool:
        """Whether to start a worker before any call needs it: less than one worker's worth of
        slots is free on ready workers and on the `starting` ones.

        A worker takes a while to start (a new Python process loads pjsua2); growing only when
        a call finds no slot would stall the dialer that long every `calls_per_worker` calls
        during a ramp."""
        if not self.has_room(worker_count):
            return False
        return free_slots + starting * self.calls_per_worker < self.calls_per_worker

    def starts_for_waiting_call(self, starting: int, worker_count: int) -> bool:
        """Whether a call that found no room starts a worker itself, rather than waiting for
        one already on its way or for a slot to free in a full pool."""
        return starting == 0 and self.has_room(worker_count)

    def idle_to_stop(self, workers: Iterable[W], now: float) -> list[W]:
        """Ready workers idle for `idle_shrink_seconds`, highest slots first, as many as can go
        while `min_workers` stay ready."""
        ready = [w for w in workers if w.state is WorkerState.READY]
        idle = sorted(
            (w for w in ready if w.load == 0 and now - w.idle_since >= self.idle_shrink_seconds),
            key=lambda w: -w.slot,
        )
        return idle[: max(0, len(ready) - self.min_workers)]

    def watchdog(self, workers: Iterable[W], now: float) -> list[WatchdogAction[W]]:
        """What to do about workers that are alive but have answered nothing for a while (wedged
        inside PJSIP, stopped): they would hold their sessions open for ever. Each is asked
        once, and aborted once."""
        limit = self.unresponsive_seconds
        actions: list[WatchdogAction[W]] = []
        for worker in workers:
            if worker.state not in (WorkerState.READY, WorkerState.STOPPING):
                continue
            silent = now - worker.last_heard
            if silent >= limit:
                if not worker.aborted:
                    actions.append(Abort(worker, silent))
            elif silent >= limit / 2 and not worker.asked:
                actions.append(AskForStats(worker))
        return actions


def first_free_slot(taken: Container[int]) -> int:
    """The lowest slot not taken: slots decide ports, so a new worker reuses a retired one's."""
    slot = 0
    while slot in taken:
        slot += 1
    return slot
