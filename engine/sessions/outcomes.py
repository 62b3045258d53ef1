"""How a SIP final response maps to a session outcome."""

from __future__ import annotations

from engine.sessions.model import Outcome

BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480})
REJECTED_CODES = frozenset({603})


def outcome_for_unanswered(sip_code: int, *, canceled_by_us: bool, ring_timeout: bool) -> Outcome:
    """Outcome of a call that was never answered."""
    if ring_timeout:
        return Outcome.NO_ANSWER
    if canceled_by_us:
        return Outcome.CANCELED
    if sip_code in BUSY_CODES:
        return Outcome.BUSY
    if sip_code in NO_ANSWER_CODES:
        return Outcome.NO_ANSWER
    if sip_code in REJECTED_CODES:
        return Outcome.REJECTED
    return Outcome.FAILED
