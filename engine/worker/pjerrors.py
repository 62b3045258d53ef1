"""The one place where a `pj.Error` becomes something the controller understands."""

from __future__ import annotations

from dataclasses import dataclass

import pjsua2 as pj

PJ_ETOOMANY = 70010
"""pjlib's "too many objects": the 5th call, the 33rd player (FIELD-NOTES.md)."""


@dataclass(frozen=True)
class Failure:
    reason: str
    """Human-readable, e.g. 'makeCall: Too many objects of the specified type (PJ_ETOOMANY)'."""
    sip_code: int
    """The code a call that failed this way ends with: 503 when out of capacity, else 500."""


def from_pj_error(exc: pj.Error) -> Failure:
    title = exc.title.strip() or "pjsua2"
    reason = f"{title}: {exc.reason.strip()} (status {exc.status})"
    return Failure(reason=reason, sip_code=503 if exc.status == PJ_ETOOMANY else 500)
