"""Second legs (the `dial` step): placed in the slot reserved with the call, bridged on answer,
ended with the main leg."""

from __future__ import annotations

from pathlib import Path

from engine.controller.call.actions import PlaceLeg, ReleaseSlots, TimerKind
from engine.controller.call.phase import CallPhase
from engine.events import model as em
from engine.flow.model import Flow
from engine.ipc import messages as msg
from engine.sessions.model import Outcome
from tests.controller.call.harness import MAIN, TRUNK, Harness
from tests.flow.helpers import flow_from

LEG = "s-1.leg-1"


def dial_flow(tmp_path: Path) -> Flow:
    return flow_from(
        tmp_path,
        {
            "connect": {
                "type": "dial",
                "target": "+12025550188",
                "ring_timeout": 20,
                "on_failure": "sorry",
            },
            "sorry": {"type": "hangup", "reason": "no agent"},
        },
    )


def dialled(tmp_path: Path, legs_needed: int = 2) -> Harness:
    call = Harness(flow=dial_flow(tmp_path), legs_needed=legs_needed)
    call.dial_and_answer()
    return call


def results(call: Harness) -> list[tuple[str, str]]:
    return [(e.step, e.result) for e in call.events(em.FlowStepFinished)]


def test_a_second_leg_is_placed_bridged_and_reported(tmp_path: Path) -> None:
    call = dialled(tmp_path)
    place = [a for a in call.actions if isinstance(a, PlaceLeg)][-1]
    assert place.make_call.call_id == LEG
    assert place.make_call.request_uri == TRUNK.request_uri("+12025550188")
    assert call.timers[next(k for k in call.timers if k.kind is TimerKind.LEG_RING)] == (
        call.now + 20
    )
    call.worker(msg.CallAnswered(call_id=LEG, answered_at=call.now))
    assert call.last_sent(msg.Bridge) == msg.Bridge(call_id=MAIN, other_call_id=LEG)
    assert "second leg answered: bridging" in call.log()
    call.now += 5
    call.ended(leg=LEG)
    assert "second leg ended: 200 BYE" in call.log()
    assert results(call)[0] == ("connect", "ok")


def test_an_unanswered_second_leg_is_cancelled_at_its_ring_timeout(tmp_path: Path) -> None:
    call = dialled(tmp_path)
    call.fire(TimerKind.LEG_RING, LEG)
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=LEG, sip_code=487)
    call.ended(487, "Request Terminated", remote=False, leg=LEG, answered=False)
    assert results(call) == [("connect", "failed"), ("sorry", "ok")]


def test_the_main_leg_ending_hangs_up_the_second_and_waits_for_it(tmp_path: Path) -> None:
    call = dialled(tmp_path)
    call.worker(msg.CallAnswered(call_id=LEG, answered_at=call.now))
    call.ended(remote=True)
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=LEG)
    assert call.core.phase is CallPhase.ENDING
    assert call.finished == 0
    call.ended(leg=LEG, remote=False)
    assert call.outcome().outcome is Outcome.COMPLETED


def test_without_a_reserved_slot_the_dial_fails_at_once(tmp_path: Path) -> None:
    call = dialled(tmp_path, legs_needed=1)
    assert [a for a in call.actions if isinstance(a, PlaceLeg)][-1].make_call.call_id == MAIN
    assert results(call) == [("connect", "failed"), ("sorry", "ok")]


def test_an_unused_reserved_slot_is_given_back_at_the_end() -> None:
    call = Harness(legs_needed=2)
    call.place()
    call.ended(486, "Busy Here")
    assert ReleaseSlots(1) in call.actions
    assert call.outcome().outcome is Outcome.BUSY


def test_a_bridge_that_fails_ends_the_second_leg(tmp_path: Path) -> None:
    call = dialled(tmp_path)
    call.worker(msg.CallAnswered(call_id=LEG, answered_at=call.now))
    call.worker(
        msg.CommandFailed(
            call_id=MAIN, command="bridge", subject_id=LEG, reason="call s-1.leg-1 has no audio"
        )
    )
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=LEG)
    call.ended(leg=LEG, remote=False)
    assert results(call)[0][0] == "connect"


def test_a_lost_worker_takes_the_second_legs_with_it(tmp_path: Path) -> None:
    call = dialled(tmp_path)
    call.lost()
    assert call.outcome().outcome is Outcome.FAILED
    assert not [k for k in call.timers if k.kind is TimerKind.LEG_RING]
