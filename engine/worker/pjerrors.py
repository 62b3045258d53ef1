"""The worker's failures: the one place where a `pj.Error` becomes something the controller
understands, and CommandError for a command the loop itself refuses."""

from __future__ import annotations

from dataclasses import dataclass

import pjsua2 as pj

from engine.errors import CallError

PJ_ETOOMANY = 70010
"""pjlib's "too many objects": the 5th call, the 33rd player (docs/field-notes.md)."""


@dataclass(frozen=True)
class Failure:
    reason: str
    """Human-readable, e.g. 'makeCall: Too many objects of the specified type (PJ_ETOOMANY)'."""
    sip_code: int
    """The code a call that failed this way ends with: 503 when out of capacity, else 500."""


class CommandError(CallError):
    """A command about a call that cannot be carried out; becomes CommandFailed (and, for a
    MakeCall, CallEnded with `sip_code`)."""

    def __init__(self, reason: str, sip_code: int = 500) -> None:
        super().__init__(reason, sip_code)
        self.failure = Failure(reason=reason, sip_code=sip_code)


def from_pj_error(exc: pj.Error) -> Failure:
    title = exc.title.strip() or "pjsua2"
    reason = f"{title}: {exc.reason.strip()} (status {exc.status})"
    return Failure(reason=reason, sip_code=503 if exc.status == PJ_ETOOMANY else 500)


def failure_of(exc: pj.Error | CommandError) -> Failure:
    """What a failed command reports, whichever of the two raised it."""
    return exc.failure if isinstance(exc, CommandError) else from_pj_error(exc)
