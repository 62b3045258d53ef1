"""Idempotency-Key on NewOutgoingSession: a client that retries a request it got no answer to
(a timeout, a dropped connection) gets the session its first attempt created, not a second call.

The key is the header of the IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field". The
engine keeps each key with the session it created, for as long as the session's record is kept,
and across restarts. Keys are the engine's, not each API key's: clients should use UUIDs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from engine.errors import RequestError
from engine.sessions.validation import FieldError, ValidationFailed

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's Idempotency-Key and the request it came with (its fields, as sent)."""

    key: str
    request: str

    @classmethod
    def of(
        cls, key: str, flow_id: str, number_to_dial: str, caller_id: str | None
    ) -> IdempotencyKey:
        request = json.dumps(
            {"FlowId": flow_id, "NumberToDial": number_to_dial, "CallerId": caller_id or None},
            sort_keys=True,
        )
        return cls(key, request)

    def check_repeats(self, earlier: IdempotencyKey, session_id: str) -> None:
        """Raises IdempotencyKeyReused unless this request asks for what `earlier`, the request
        that created `session_id` with the same key, asked for."""
        mine, theirs = json.loads(self.request), json.loads(earlier.request)
        differences = sorted(
            name for name in mine.keys() | theirs.keys() if mine.get(name) != theirs.get(name)
        )
        if differences:
            raise IdempotencyKeyReused(self.key, session_id, differences)


class IdempotencyKeyReused(RequestError):
    """The key already created a session, for a request with other fields: answer 422."""

    def __init__(self, key: str, session_id: str, fields: list[str]) -> None:
        super().__init__(
            f"{HEADER} {key!r} was already used for session {session_id}, with another"
            f" {', '.join(fields)}",
            field=HEADER,
            code="IdempotencyKeyReused",
        )
        self.key = key
        self.session_id = session_id
        self.fields = fields
        """The request's fields (PascalCase) that differ from the first request's."""


def check_key(raw: str | None) -> str | None:
    """The header's value, or None when absent; ValidationFailed (naming the header) when it is
    empty, too long, or holds anything but visible ASCII."""
    if raw is None:
        return None
    if not raw:
        message = "must not be empty"
    elif len(raw) > MAX_KEY_LENGTH:
        message = f"must be at most {MAX_KEY_LENGTH} characters (got {len(raw)})"
    elif not _VISIBLE_ASCII.fullmatch(raw):
        message = "must be visible ASCII characters only (no spaces), such as a UUID"
    else:
        return raw
    raise ValidationFailed([FieldError(HEADER, f"{HEADER} {message}")])
