"""The phase table and the outcome decision."""

from __future__ import annotations

import itertools

import pytest

from engine.controller.call.phase import (
    TRANSITIONS,
    CallPhase,
    CallProtocolError,
    CancelCause,
    Trigger,
    decide_outcome,
    next_phase,
)
from engine.sessions.model import Outcome

P, T = CallPhase, Trigger


def test_every_phase_has_a_row() -> None:
    assert set(TRANSITIONS) == set(CallPhase)


@pytest.mark.parametrize(("phase", "trigger"), list(itertools.product(CallPhase, Trigger)))
def test_a_trigger_moves_as_the_table_says_or_raises(phase: CallPhase, trigger: Trigger) -> None:
    expected = TRANSITIONS[phase].get(trigger)
    if expected is None:
        with pytest.raises(CallProtocolError, match=phase.value):
            next_phase(phase, trigger)
    else:
        assert next_phase(phase, trigger) is expected


def test_the_paths_a_call_takes() -> None:
    def walk(*triggers: Trigger) -> CallPhase:
        phase = P.QUEUED
        for trigger in triggers:
            phase = next_phase(phase, trigger)
        return phase

    answered_and_hung_up = walk(T.PLACE, T.ANSWER, T.HANG_UP, T.MAIN_ENDED, T.FINISH)
    assert answered_and_hung_up is P.FINISHED
    assert walk(T.PLACE, T.CANCEL, T.ANSWER, T.HANG_UP) is P.HANGING_UP
    assert walk(T.PLACE, T.MAIN_ENDED, T.FINISH) is P.FINISHED
    assert walk(T.PLACE, T.ANSWER, T.WORKER_LOST, T.FINISH) is P.FINISHED
    assert walk(T.FINISH) is P.FINISHED


def test_a_finished_call_accepts_nothing() -> None:
    assert TRANSITIONS[P.FINISHED] == {}


def test_the_hang_up_is_asked_for_once() -> None:
    with pytest.raises(CallProtocolError):
        next_phase(P.HANGING_UP, T.HANG_UP)


@pytest.mark.parametrize(
    ("sip_code", "outcome"),
    [
        (486, Outcome.BUSY),
        (600, Outcome.BUSY),
        (408, Outcome.NO_ANSWER),
        (480, Outcome.NO_ANSWER),
        (603, Outcome.REJECTED),
        (404, Outcome.FAILED),
        (503, Outcome.FAILED),
        (None, Outcome.FAILED),
    ],
)
def test_an_unanswered_call_ends_by_its_sip_code(sip_code: int | None, outcome: Outcome) -> None:
    decided = decide_outcome(answered=False, cancels=(), sip_code=sip_code)
    assert decided is outcome


def test_our_own_cancel_decides_over_the_code() -> None:
    def cancelled(*causes: CancelCause) -> Outcome:
        return decide_outcome(answered=False, cancels=causes, sip_code=487)

    assert cancelled(CancelCause.API) is Outcome.CANCELED
    assert cancelled(CancelCause.RING_TIMEOUT) is Outcome.NO_ANSWER
    # A DELETE after the ring timeout's CANCEL: it still went unanswered.
    assert cancelled(CancelCause.RING_TIMEOUT, CancelCause.API) is Outcome.NO_ANSWER


def test_an_answer_completes_whatever_else() -> None:
    answered = decide_outcome(answered=True, cancels={CancelCause.API}, sip_code=500)
    assert answered is Outcome.COMPLETED
