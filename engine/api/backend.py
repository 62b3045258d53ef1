"""What the HTTP API needs from the rest of the engine.

The API layer codes against this protocol only; `engine.controller.engine.Engine` implements it,
and API unit tests use an in-memory fake.
"""

from __future__ import annotations

from typing import Protocol

from engine.config import OwnedNumber
from engine.sessions.model import Session


class VoiceBackend(Protocol):
    async def create_outgoing_session(
        self,
        flow_id: str,
        number_to_dial: str,
        caller_id: str | None,
        idempotency_key: str | None = None,
    ) -> Session:
        """Validate, store and start placing the call; with an `idempotency_key` an earlier
        request already made, its session instead (nothing dialled).

        Raises `engine.sessions.validation.ValidationFailed` (nothing stored, nothing dialled),
        `engine.errors.QueueFull`, or `engine.sessions.idempotency.IdempotencyKeyReused` (the
        key came with other fields before).
        """
        ...

    def get_session(self, session_id: str) -> Session | None: ...

    def list_sessions(self, skip: int, take: int) -> tuple[list[Session], int]:
        """Newest first; returns the page and the total count."""
        ...

    async def end_session(self, session_id: str) -> Session | None:
        """Hang up (after the answer) or cancel (before it). None: no such session."""
        ...

    def phone_numbers(self) -> list[OwnedNumber]: ...

    def readiness(self) -> dict[str, bool]:
        """Named checks for /ready, e.g. {'workers': True, 'store': True, 'broker': True}."""
        ...
