"""The socket-handle budget and the MakeCalls waiting for it, without pjsua2 or a clock."""

from __future__ import annotations

import subprocess
import sys

from engine.ipc.messages import MakeCall
from engine.worker.capacity import (
    NO_FREE_HANDLE,
    Capacity,
    CapacityLimits,
    Fail,
    Start,
    Wait,
)

SMALL = CapacityLimits(
    max_calls=4,
    ioqueue_handles=16,
    handles_per_call=2,
    handle_free_delay_seconds=0.6,
    handles_kept_free=4,
    wait_seconds=1.0,
)
"""Room for the handles of 6 calls: (6 * 2) + 4 kept free = 16."""
FULL = 6
T0 = 100.0


def make_call(call_id: str) -> MakeCall:
    return MakeCall(
        call_id=call_id,
        session_id=f"session-{call_id}",
        request_uri="sip:+18144043093@127.0.0.1:5070",
        from_uri="sip:+12025550143@127.0.0.1",
        trunk="sipp",
    )


def test_a_call_starts_while_its_sockets_fit() -> None:
    capacity = Capacity(SMALL)
    assert capacity.admit(calls_held=FULL - 1, received_at=T0, now=T0) == Start()


def test_a_call_waits_when_the_held_calls_take_every_handle() -> None:
    capacity = Capacity(SMALL)
    assert capacity.admit(calls_held=FULL, received_at=T0, now=T0) == Wait(
        until=T0 + 1.0, reason=NO_FREE_HANDLE
    )


def test_the_default_limits_leave_room_for_27_calls_beside_the_sip_transports() -> None:
    capacity = Capacity(CapacityLimits(max_calls=4))
    assert capacity.admit(calls_held=27, received_at=T0, now=T0) == Start()
    assert isinstance(capacity.admit(calls_held=28, received_at=T0, now=T0), Wait)


def test_ended_calls_hold_their_handles_for_the_free_delay() -> None:
    capacity = Capacity(SMALL)
    for _ in range(FULL):
        capacity.call_ended(T0)

    assert isinstance(capacity.admit(calls_held=0, received_at=T0, now=T0 + 0.5), Wait)
    assert isinstance(capacity.admit(calls_held=0, received_at=T0, now=T0 + 0.6), Wait)
    assert capacity.admit(calls_held=0, received_at=T0, now=T0 + 0.61) == Start()


def test_ended_and_held_calls_count_together() -> None:
    capacity = Capacity(SMALL)
    capacity.call_ended(T0)
    assert isinstance(capacity.admit(calls_held=FULL - 1, received_at=T0, now=T0), Wait)
    assert capacity.admit(calls_held=FULL - 1, received_at=T0, now=T0 + 0.7) == Start()


def test_a_call_that_waited_its_whole_time_fails_with_503() -> None:
    capacity = Capacity(SMALL)
    assert isinstance(capacity.admit(calls_held=FULL, received_at=T0, now=T0 + 0.99), Wait)
    assert capacity.admit(calls_held=FULL, received_at=T0, now=T0 + 1.0) == Fail(
        NO_FREE_HANDLE, 503
    )


def test_a_refused_slot_waits_while_ended_calls_hold_some() -> None:
    capacity = Capacity(SMALL)
    refused = capacity.slot_refused(live_calls=3, reason="too many", received_at=T0, now=T0)
    assert refused == Wait(until=T0 + 1.0, reason="too many")


def test_a_refused_slot_fails_at_once_when_every_call_is_live() -> None:
    capacity = Capacity(SMALL)
    refused = capacity.slot_refused(live_calls=4, reason="too many", received_at=T0, now=T0)
    assert refused == Fail("too many", 503)


def test_a_refused_slot_fails_once_the_wait_is_over() -> None:
    capacity = Capacity(SMALL)
    refused = capacity.slot_refused(live_calls=3, reason="too many", received_at=T0, now=T0 + 1)
    assert refused == Fail("too many", 503)


def test_waiting_calls_are_taken_in_the_order_they_arrived() -> None:
    capacity = Capacity(SMALL)
    assert not capacity.anyone_waiting
    capacity.wait(make_call("c1"), T0)
    capacity.wait(make_call("c2"), T0 + 0.1)
    assert capacity.anyone_waiting

    taken = capacity.take_waiting()

    assert [(w.message.call_id, w.received_at) for w in taken] == [("c1", T0), ("c2", T0 + 0.1)]
    assert not capacity.anyone_waiting
    assert capacity.take_waiting() == []


def test_a_hangup_cancels_only_its_waiting_call() -> None:
    capacity = Capacity(SMALL)
    capacity.wait(make_call("c1"), T0)
    capacity.wait(make_call("c2"), T0)

    cancelled = capacity.cancel("c1")

    assert cancelled is not None and cancelled.message.call_id == "c1"
    assert capacity.cancel("c1") is None
    assert [w.message.call_id for w in capacity.take_waiting()] == ["c2"]


def test_the_capacity_module_needs_no_pjsua2() -> None:
    code = "import sys, engine.worker.capacity; sys.exit('pjsua2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
