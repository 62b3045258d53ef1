"""The API's data transfer objects, named and shaped like the ServiceStack DTOs they replace.

Field names are snake_case here; the wire uses camelCase in JSON and PascalCase in XML
(`engine.api.formats`). The models also feed the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from engine.config import OwnedNumber
from engine.sessions.model import CallState, LogEntry, Outcome, Session, iso_utc
from engine.sessions.validation import FieldError

SESSIONS_NAMESPACE = "http://schemas.datacontract.org/2004/07/Voice.Api.Sessions"
SERVICESTACK_NAMESPACE = "http://schemas.servicestack.net/types"


UtcDateTime = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]


class Dto(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    xml_namespace: ClassVar[str] = SESSIONS_NAMESPACE
    xml_sorted: ClassVar[bool] = True
    """DataContractSerializer writes members alphabetically unless they carry an Order."""


class NewOutgoingSession(Dto):
    """Place an outgoing call that runs a flow when answered."""

    flow_id: str | None = None
    number_to_dial: str | None = None
    """E.164, e.g. +18144043093; spaces, dashes, dots and brackets are ignored."""
    caller_id: str | None = None
    """An owned number; omitted: one is picked at random among the usable ones."""


class LogEntryInfo(Dto):
    date: UtcDateTime
    message: str

    xml_name: ClassVar[str] = "LogEntry"


class SessionInfo(Dto):
    id: str
    flow_id: str
    destination: str
    from_address: str
    call_state: CallState
    ended: bool
    outcome: Outcome | None
    sip_code: int | None
    sip_reason: str | None
    date_created: UtcDateTime
    date_answered: UtcDateTime | None
    date_completed: UtcDateTime | None
    log: list[LogEntryInfo]

    @classmethod
    def from_session(cls, session: Session) -> SessionInfo:
        return cls(
            id=session.id,
            flow_id=session.flow_id,
            destination=session.destination,
            from_address=session.from_address,
            call_state=session.call_state,
            ended=session.ended,
            outcome=session.outcome,
            sip_code=session.sip_code,
            sip_reason=session.sip_reason,
            date_created=session.date_created,
            date_answered=session.date_answered,
            date_completed=session.date_completed,
            log=[_log_entry(entry) for entry in session.log],
        )


def _log_entry(entry: LogEntry) -> LogEntryInfo:
    return LogEntryInfo(date=entry.date, message=entry.message)


class QuerySessionsResponse(Dto):
    """A page of sessions, newest first (ServiceStack's QueryResponse shape)."""

    offset: int
    total: int
    results: list[SessionInfo]


class PhoneNumberInfo(Dto):
    number: str
    trunk: str
    description: str

    @classmethod
    def from_owned(cls, owned: OwnedNumber) -> PhoneNumberInfo:
        return cls(number=owned.number, trunk=owned.trunk, description=owned.description)


class PhoneNumbersResponse(Dto):
    results: list[PhoneNumberInfo]


class ResponseError(Dto):
    error_code: str
    field_name: str
    message: str

    xml_namespace: ClassVar[str] = SERVICESTACK_NAMESPACE
    xml_sorted: ClassVar[bool] = False

    @classmethod
    def from_field_error(cls, error: FieldError) -> ResponseError:
        return cls(error_code=error.error_code, field_name=error.field_name, message=error.message)


class ResponseStatus(Dto):
    error_code: str
    message: str
    errors: list[ResponseError]

    xml_namespace: ClassVar[str] = SERVICESTACK_NAMESPACE
    # ServiceStack's ResponseStatus orders its members ErrorCode, Message, (StackTrace,) Errors;
    # DataContractSerializer skips members out of order, so keep that order for its clients.
    xml_sorted: ClassVar[bool] = False


class ErrorResponse(Dto):
    response_status: ResponseStatus

    xml_namespace: ClassVar[str] = SERVICESTACK_NAMESPACE
    xml_sorted: ClassVar[bool] = False
