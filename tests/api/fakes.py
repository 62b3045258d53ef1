"""An in-memory VoiceBackend for API tests: real validation, no calls."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from engine.config import OwnedNumber
from engine.errors import QueueFull
from engine.sessions.idempotency import IdempotencyKey
from engine.sessions.model import CallState, LogEntry, Outcome, Session
from engine.sessions.validation import validate_outgoing

NUMBERS = [
    OwnedNumber(number="+12025550143", trunk="local-sipp", description="demo line 1"),
    OwnedNumber(number="+12025550144", trunk="local-sipp", description="demo line 2"),
]
FLOW_IDS = frozenset({"hello", "survey"})
BASE_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class FakeBackend:
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.queue_full_retry_after: int | None = None
        """When set, create_outgoing_session raises QueueFull with this many seconds."""
        self.checks = {"workers": True, "store": True}
        self.rng = random.Random(7)
        self.idempotency_keys: dict[str, tuple[str, IdempotencyKey]] = {}

    async def create_outgoing_session(
        self,
        flow_id: str,
        number_to_dial: str,
        caller_id: str | None,
        idempotency_key: str | None = None,
    ) -> Session:
        idempotency = (
            IdempotencyKey.of(idempotency_key, flow_id, number_to_dial, caller_id)
            if idempotency_key is not None
            else None
        )
        if idempotency is not None and idempotency.key in self.idempotency_keys:
            session_id, earlier = self.idempotency_keys[idempotency.key]
            idempotency.check_repeats(earlier, session_id)
            return self.sessions[session_id]
        request = validate_outgoing(
            flow_id,
            number_to_dial,
            caller_id,
            flow_ids=FLOW_IDS,
            numbers=NUMBERS,
            usable_trunks={"local-sipp"},
            rng=self.rng,
        )
        if self.queue_full_retry_after is not None:
            raise QueueFull(self.queue_full_retry_after)
        created = BASE_TIME + timedelta(seconds=len(self.sessions))
        session = Session(
            id=f"s{len(self.sessions) + 1}",
            flow_id=request.flow_id,
            destination=request.number_to_dial,
            from_address=request.caller_id,
            trunk=request.trunk,
            date_created=created,
            log=[LogEntry(created, "queued")],
        )
        self.sessions[session.id] = session
        if idempotency is not None:
            self.idempotency_keys[idempotency.key] = (session.id, idempotency)
        return session

    def get_session(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    def list_sessions(self, skip: int, take: int) -> tuple[list[Session], int]:
        newest_first = sorted(self.sessions.values(), key=lambda s: s.date_created, reverse=True)
        return newest_first[skip : skip + take], len(newest_first)

    async def end_session(self, session_id: str) -> Session | None:
        session = self.sessions.get(session_id)
        if session is None:
            return None
        if not session.ended:
            answered = session.call_state is CallState.CONNECTED
            session.outcome = Outcome.COMPLETED if answered else Outcome.CANCELED
            session.call_state = CallState.DISCONNECTED
            session.date_completed = session.date_created + timedelta(seconds=5)
        return session

    def phone_numbers(self) -> list[OwnedNumber]:
        return list(NUMBERS)

    def readiness(self) -> dict[str, bool]:
        return dict(self.checks)
