"""The pool's record of one worker: what the calls on it see, and what the policy reads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from engine.controller.pool.policy import WorkerState
from engine.controller.pool.process import WorkerSubprocess
from engine.ipc.messages import Message, Stats


@dataclass(eq=False)
class WorkerHandle:
    """One worker of the pool. A slot is reserved before a call's MakeCall is sent and becomes
    a leg then; the leg is freed when its CallEnded arrives (or the worker dies)."""

    slot: int
    """Index in the pool; decides the worker's SIP and RTP port ranges."""
    worker_id: int
    """Unique for the life of the controller."""
    process: WorkerSubprocess
    """The running process."""
    capacity: int
    """Legs it can hold at once."""
    idle_since: float
    """When its load last fell to zero (the pool's monotonic clock)."""
    last_heard: float
    """When it last sent anything (the watchdog asks a silent one how it is)."""
    state: WorkerState = WorkerState.STARTING
    """Where it is in its life; only a READY worker is given calls."""
    sip_port: int = 0
    """The UDP port it took for SIP, from its Ready (0 until then)."""
    legs: set[str] = field(default_factory=set)
    """The call ids of the legs it holds."""
    reserved: int = 0
    """Slots promised to calls whose MakeCall is not sent yet."""
    stats: Stats | None = None
    """Its latest answer to a StatsRequest."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when its Ready arrives or it dies, whichever is first."""
    asked: bool = False
    """Asked for its stats since it last sent anything."""
    aborted: bool = False
    """Already sent the signal that ends a silent worker."""

    @property
    def load(self) -> int:
        return len(self.legs) + self.reserved

    @property
    def free(self) -> int:
        return self.capacity - self.load if self.state is WorkerState.READY else 0

    def send(self, message: Message) -> None:
        if self.state is not WorkerState.DEAD:
            self.process.send(message, self.sip_port)
