"""Whether a MakeCall can start now, must wait, or fails: the socket-handle budget and the
queue of MakeCalls waiting for it (pure: no pjsua2, no clock; every decision is given `now`).

A call holds its RTP and RTCP sockets' handles in PJSIP's select ioqueue from makeCall until
shortly after it ends; a call slot in PJSIP stays taken until the loop has handled the call's
DISCONNECTED state. A MakeCall that arrives while ended calls still hold either waits for them,
up to a deadline, instead of failing (or, for the handles, aborting the process).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from engine.ipc.messages import MakeCall

IOQUEUE_HANDLES = 64
"""PJSIP's select ioqueue holds 64 sockets; taking a 65th aborts the process (an assertion in
pj_ioqueue_register_sock2), and a closed socket's handle is free again only after
PJ_IOQUEUE_KEY_FREE_DELAY (500 ms)."""
HANDLES_PER_CALL = 2
"""A call's RTP and RTCP sockets."""
HANDLE_FREE_DELAY_SECONDS = 0.6
"""PJ_IOQUEUE_KEY_FREE_DELAY (500 ms) and a margin."""
HANDLES_KEPT_FREE = 8
"""For the SIP transports (UDP, and TCP or TLS with their connections)."""
CAPACITY_WAIT_SECONDS = 1.0
"""How long a MakeCall may wait for a free socket handle or call slot before it fails."""
NO_FREE_HANDLE = "no free socket handle for the call's media"
"""The reason a MakeCall fails with when no handle freed up in time."""
OUT_OF_CAPACITY = 503
"""The SIP code a call that found no room ends with."""


@dataclass(frozen=True)
class CapacityLimits:
    """What bounds the calls one worker can place."""

    max_calls: int
    """The worker's call slots (--max-calls)."""
    ioqueue_handles: int = IOQUEUE_HANDLES
    """Sockets PJSIP's ioqueue can hold."""
    handles_per_call: int = HANDLES_PER_CALL
    """Sockets one call's media takes."""
    handle_free_delay_seconds: float = HANDLE_FREE_DELAY_SECONDS
    """How long an ended call's handles stay taken."""
    handles_kept_free: int = HANDLES_KEPT_FREE
    """Handles no call may take (the SIP transports')."""
    wait_seconds: float = CAPACITY_WAIT_SECONDS
    """How long after it arrived a MakeCall may still wait."""


@dataclass(frozen=True)
class Start:
    """Place the call now."""


@dataclass(frozen=True)
class Wait:
    """Keep the MakeCall queued and try again later."""

    until: float
    """The time after which it may no longer wait (its arrival plus the wait allowed)."""
    reason: str
    """What it waits for, the reason it fails with if that never comes."""


@dataclass(frozen=True)
class Fail:
    """The call cannot be placed: CommandFailed, then CallEnded with `sip_code`."""

    reason: str
    """Why, for CommandFailed and CallEnded."""
    sip_code: int
    """The code the call ends with."""


Decision = Start | Wait | Fail


@dataclass(frozen=True)
class WaitingCall:
    """A MakeCall waiting for capacity."""

    message: MakeCall
    """The command, as it arrived."""
    received_at: float
    """When it was read from the socket: its wait counts from here."""


class Capacity:
    """The calls recently ended whose handles are not free yet, and the MakeCalls waiting."""

    def __init__(self, limits: CapacityLimits) -> None:
        self.limits = limits
        self._ended_at: deque[float] = deque()
        """When recent calls ended (oldest first)."""
        self._waiting: deque[WaitingCall] = deque()
        """MakeCalls that wait, in the order they arrived."""

    def call_ended(self, now: float) -> None:
        """A call's sockets closed (or may have opened and closed) at `now`."""
        self._ended_at.append(now)

    def admit(self, calls_held: int, received_at: float, now: float) -> Decision:
        """Before makeCall: Start when one more call's sockets fit beside those of the
        `calls_held` by the loop (live, or ended but not yet dropped) and of the calls that
        ended within the free delay."""
        horizon = now - self.limits.handle_free_delay_seconds
        while self._ended_at and self._ended_at[0] < horizon:
            self._ended_at.popleft()
        held = (calls_held + len(self._ended_at) + 1) * self.limits.handles_per_call
        if held + self.limits.handles_kept_free <= self.limits.ioqueue_handles:
            return Start()
        return self._wait_or_fail(NO_FREE_HANDLE, received_at, now)

    def slot_refused(
        self, live_calls: int, reason: str, received_at: float, now: float
    ) -> Wait | Fail:
        """makeCall found no free call slot (PJ_ETOOMANY, `reason`): wait while some of the
        slots are held by calls that have ended (`live_calls` counts the others); fail when all
        of them are live."""
        if live_calls >= self.limits.max_calls:
            return Fail(reason, OUT_OF_CAPACITY)
        return self._wait_or_fail(reason, received_at, now)

    def _wait_or_fail(self, reason: str, received_at: float, now: float) -> Wait | Fail:
        if now - received_at >= self.limits.wait_seconds:
            return Fail(reason, OUT_OF_CAPACITY)
        return Wait(until=received_at + self.limits.wait_seconds, reason=reason)

    def wait(self, message: MakeCall, received_at: float) -> None:
        """Queue a MakeCall that was told to Wait."""
        self._waiting.append(WaitingCall(message, received_at))

    def take_waiting(self) -> list[WaitingCall]:
        """Every waiting MakeCall, oldest first, to try again (each one that must still wait is
        queued again with `wait`)."""
        waiting = list(self._waiting)
        self._waiting.clear()
        return waiting

    def cancel(self, call_id: str) -> WaitingCall | None:
        """Remove the waiting MakeCall for `call_id`, if one waits."""
        for waiting in self._waiting:
            if waiting.message.call_id == call_id:
                self._waiting.remove(waiting)
                return waiting
        return None

    @property
    def anyone_waiting(self) -> bool:
        """Whether a MakeCall waits (the loop then checks the clock often)."""
        return bool(self._waiting)
