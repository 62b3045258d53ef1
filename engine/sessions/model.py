"""The session record: what the API returns as SessionInfo."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, as the API writes dates (ServiceStack's form) and flows read
    them; a naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class CallState(StrEnum):
    QUEUED = "Queued"
    """Waiting for trunk or worker capacity."""
    RINGING = "Ringing"
    """INVITE sent, not answered yet."""
    CONNECTED = "Connected"
    """Answered; the flow is running."""
    DISCONNECTED = "Disconnected"


class Outcome(StrEnum):
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    REJECTED = "rejected"
    CANCELED = "canceled"
    FAILED = "failed"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LogEntry:
    date: datetime
    message: str


@dataclass
class Session:
    id: str
    flow_id: str
    destination: str
    """The E.164 number dialled."""
    from_address: str
    """The caller ID used (E.164)."""
    trunk: str
    call_state: CallState = CallState.QUEUED
    outcome: Outcome | None = None
    sip_code: int | None = None
    sip_reason: str | None = None
    date_created: datetime = field(default_factory=utc_now)
    date_answered: datetime | None = None
    date_completed: datetime | None = None
    node_id: str = ""
    log: list[LogEntry] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.outcome is not None
