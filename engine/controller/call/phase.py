"""A call's phases as data: which trigger moves a call from which phase to which (h11's
`_state.py` is the model), and the session outcome a call's end decides."""

from __future__ import annotations

from collections.abc import Container
from enum import StrEnum

from engine.errors import InternalError
from engine.sessions.model import Outcome
from engine.sessions.outcomes import outcome_for_unanswered


class CallPhase(StrEnum):
    QUEUED = "queued"
    """Waiting for the trunk's concurrency, a token of its call rate and a worker slot."""
    DIALLING = "dialling"
    """The MakeCall is with a worker: the INVITE is out, the far end may be ringing."""
    CANCELLING = "cancelling"
    """A CANCEL was sent before any answer (an API request or the ring timeout)."""
    CONNECTED = "connected"
    """Answered: the flow runs, media commands are carried out."""
    HANGING_UP = "hanging_up"
    """The engine asked for the hang-up (the flow, the API, the duration limit, an error)."""
    ENDING = "ending"
    """The main leg is over; on_hangup steps and second legs may still be finishing."""
    FINISHED = "finished"
    """The outcome is written: nothing more happens to the session."""


class Trigger(StrEnum):
    PLACE = "place"
    """The MakeCall is handed to a worker."""
    ANSWER = "answer"
    """The main leg is answered (200 OK, ACK, media up)."""
    CANCEL = "cancel"
    """The engine cancels the unanswered main leg."""
    HANG_UP = "hang_up"
    """The engine hangs up the answered call."""
    MAIN_ENDED = "main_ended"
    """The worker reports the main leg over."""
    WORKER_LOST = "worker_lost"
    """The worker holding the call died or was aborted."""
    FINISH = "finish"
    """The outcome is decided and written."""


P, T = CallPhase, Trigger

TRANSITIONS: dict[CallPhase, dict[Trigger, CallPhase]] = {
    P.QUEUED: {T.PLACE: P.DIALLING, T.FINISH: P.FINISHED},
    P.DIALLING: {
        T.ANSWER: P.CONNECTED,
        T.CANCEL: P.CANCELLING,
        T.MAIN_ENDED: P.ENDING,
        T.WORKER_LOST: P.ENDING,
        T.FINISH: P.FINISHED,  # only when placing failed before the MakeCall left
    },
    # The 200 OK may cross the CANCEL: the call is answered after all.
    P.CANCELLING: {T.ANSWER: P.CONNECTED, T.MAIN_ENDED: P.ENDING, T.WORKER_LOST: P.ENDING},
    P.CONNECTED: {T.HANG_UP: P.HANGING_UP, T.MAIN_ENDED: P.ENDING, T.WORKER_LOST: P.ENDING},
    P.HANGING_UP: {T.MAIN_ENDED: P.ENDING, T.WORKER_LOST: P.ENDING},
    P.ENDING: {T.WORKER_LOST: P.ENDING, T.FINISH: P.FINISHED},
    P.FINISHED: {},
}
"""Every move a call may make; anything else is a CallProtocolError."""


class CancelCause(StrEnum):
    API = "api"
    """DELETE /sessions/{id} before the answer."""
    RING_TIMEOUT = "ring_timeout"
    """The trunk's ring_timeout_seconds passed without an answer."""


class CallProtocolError(InternalError):
    """An event that makes no sense in the call's phase (h11's LocalProtocolError): a bug in
    the engine or the worker, raised by the core before it changes anything; the driver logs it
    with the session id."""

    def __init__(self, phase: CallPhase, what: str) -> None:
        super().__init__(f"{what} in phase {phase.value}")
        self.phase = phase


def next_phase(phase: CallPhase, trigger: Trigger) -> CallPhase:
    """The phase `trigger` leads to from `phase`; CallProtocolError if it cannot happen there."""
    following = TRANSITIONS[phase].get(trigger)
    if following is None:
        raise CallProtocolError(phase, f"{trigger.value}")
    return following


def decide_outcome(
    *, answered: bool, cancels: Container[CancelCause], sip_code: int | None
) -> Outcome:
    """The session's outcome once its main leg is over (a lost worker's call fails before
    this is asked); `cancels`: why a CANCEL was asked for, if it was."""
    if answered:
        return Outcome.COMPLETED
    return outcome_for_unanswered(
        sip_code or 0,
        canceled_by_us=CancelCause.API in cancels,
        ring_timeout=CancelCause.RING_TIMEOUT in cancels,
    )
