"""The events the engine publishes: one versioned JSON envelope, one data model per kind.

Every event on the wire looks like this (docs/events.md has an example of each kind)::

    {"id": "0b9e…", "version": 1, "kind": "call.ended", "session_id": "…", "node_id": "node-1",
     "timestamp": "2026-11-26T22:00:00.123Z", "sequence": 7, "data": {…}}

Topics:

    {prefix}/sessions/{session_id}/events/{kind}   every event, QoS 1, not retained
    {prefix}/nodes/{node_id}/status                retained presence: online, offline (Last Will)

`version` changes only when a field is removed or changes meaning; new optional fields are added
without a new version, so consumers must ignore fields they do not know.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from engine.sessions.model import Outcome

EVENT_VERSION: Literal[1] = 1
"""The envelope and data schema version carried by every event."""


class EventKind(StrEnum):
    SESSION_CREATED = "session.created"
    CALL_INVITE_SENT = "call.invite_sent"
    CALL_RINGING = "call.ringing"
    CALL_ANSWERED = "call.answered"
    FLOW_STEP_STARTED = "flow.step_started"
    FLOW_STEP_FINISHED = "flow.step_finished"
    CALL_DIGIT_RECEIVED = "call.digit_received"
    RECORDING_SAVED = "recording.saved"
    CALL_ENDED = "call.ended"
    SESSION_COMPLETED = "session.completed"


class EventData(BaseModel):
    """Base of the per-kind payloads; unknown fields are a programming error here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[EventKind]
    """The kind of event this payload is."""


class SessionCreated(EventData):
    kind = EventKind.SESSION_CREATED

    flow_id: str
    """The flow the session will run once answered."""
    destination: str
    """The E.164 number to dial."""
    from_address: str
    """The caller ID (E.164)."""
    trunk: str
    """The trunk chosen for the call."""


class CallInviteSent(EventData):
    kind = EventKind.CALL_INVITE_SENT

    trunk: str
    request_uri: str
    """The Request-URI of the INVITE."""
    worker_id: str | None = None
    """The SIP worker process that holds the call."""
    api_to_invite_seconds: float | None = None
    """Time from the session's creation to the INVITE leaving (the sum of the three below)."""
    queue_seconds: float | None = None
    """Trunk queue, rate limit and worker slot, until the MakeCall is handed to a worker."""
    worker_pickup_seconds: float | None = None
    """The MakeCall handed over -> the worker process read it."""
    make_call_seconds: float | None = None
    """PJSIP building and sending the INVITE."""


class CallRinging(EventData):
    kind = EventKind.CALL_RINGING

    sip_code: int
    """180 or 183."""
    early_media: bool = False
    """True when the provisional response carried SDP."""


class CallAnswered(EventData):
    kind = EventKind.CALL_ANSWERED

    sip_code: int = 200
    post_dial_delay_seconds: float | None = None
    """INVITE to first ringing (180/183), when there was one."""
    answer_time_seconds: float | None = None
    """INVITE to 200 OK."""


class FlowStepStarted(EventData):
    kind = EventKind.FLOW_STEP_STARTED

    step: str
    """The step's id in the flow file."""
    type: str
    """The step type (play, say, gather, record, ...)."""


class FlowStepFinished(EventData):
    kind = EventKind.FLOW_STEP_FINISHED

    step: str
    type: str
    result: str
    """How the step ended (ok, timeout, no-input, error, ...)."""


class CallDigitReceived(EventData):
    kind = EventKind.CALL_DIGIT_RECEIVED

    digit: str = Field(pattern=r"^[0-9*#A-D]$")
    """One DTMF digit (RFC 2833 or SIP INFO)."""
    step: str | None = None
    """The step that was running when the digit arrived."""


class RecordingSaved(EventData):
    kind = EventKind.RECORDING_SAVED

    path: str
    """Where the WAV file was written, on the engine's host."""
    duration_seconds: float
    step: str | None = None


class CallEnded(EventData):
    kind = EventKind.CALL_ENDED

    outcome: Outcome
    sip_code: int | None
    """The final SIP response code, or the code of the BYE's cause; None when no response came."""
    sip_reason: str | None
    post_dial_delay_seconds: float | None = None
    """INVITE to first ringing; None if the call never rang."""
    ring_seconds: float | None = None
    """First ringing to answer or to the final failure."""
    talk_seconds: float | None = None
    """Answer to hang-up; None if never answered."""
    rtp_packets_sent: int | None = None
    """Audio of the main leg (None when no media ran)."""
    rtp_packets_received: int | None = None
    rtp_packets_lost: int | None = None
    """Gaps in the received RTP sequence numbers."""
    rtp_jitter_ms: float | None = None
    """Mean interarrival jitter of the received RTP."""


class SessionCompleted(EventData):
    kind = EventKind.SESSION_COMPLETED

    outcome: Outcome
    duration_seconds: float
    """Session creation to completion."""


SessionEventData = (
    SessionCreated
    | CallInviteSent
    | CallRinging
    | CallAnswered
    | FlowStepStarted
    | FlowStepFinished
    | CallDigitReceived
    | RecordingSaved
    | CallEnded
    | SessionCompleted
)
"""Every kind's payload: what the engine emits, dispatched over with match. A new kind is an
EventKind member, its model, and its place in this union."""

DATA_MODELS: Mapping[EventKind, type[EventData]] = {
    model.kind: model for model in get_args(SessionEventData)
}
"""Which data model each kind carries (from the union)."""


def validate_data(kind: EventKind, data: EventData | Mapping[str, Any]) -> dict[str, Any]:
    """Check `data` against the kind's model and return it as JSON-ready dict."""
    model = DATA_MODELS[kind]
    if isinstance(data, EventData):
        if not isinstance(data, model):
            raise TypeError(f"{kind} carries {model.__name__}, not {type(data).__name__}")
        return data.model_dump(mode="json")
    return model.model_validate(data).model_dump(mode="json")


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z: 2026-11-26T22:00:00.123Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """The envelope published for every event."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_event_id)
    """Unique per event (uuid4 hex): consumers dedupe redeliveries by it."""
    version: Literal[1] = EVENT_VERSION
    kind: EventKind
    session_id: str
    node_id: str
    """The engine node that produced the event."""
    timestamp: datetime
    """When the event happened (UTC)."""
    sequence: int = Field(0, ge=0)
    """Per session, 1, 2, 3 … in emission order; 0 only before the outbox assigns it."""
    data: dict[str, Any]

    @field_validator("timestamp")
    @classmethod
    def _to_utc_milliseconds(cls, value: datetime) -> datetime:
        # The wire carries milliseconds; keeping only those makes a stored and reloaded event
        # equal to the one emit() returned.
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    @field_serializer("timestamp")
    def _timestamp(self, value: datetime) -> str:
        return iso_utc(value)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, payload: bytes | str) -> Event:
        return cls.model_validate_json(payload)

    def typed_data(self) -> EventData:
        """`data` as its kind's model."""
        return DATA_MODELS[self.kind].model_validate(self.data)


NodeState = Literal["online", "offline"]


class NodeStatus(BaseModel):
    """The retained payload on {prefix}/nodes/{node_id}/status."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1] = EVENT_VERSION
    node_id: str
    state: NodeState
    timestamp: datetime | None = None
    """When the node went online; None in the Last Will (written at connect time)."""

    @field_serializer("timestamp")
    def _timestamp(self, value: datetime | None) -> str | None:
        return None if value is None else iso_utc(value)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


PublisherState = Literal["connected", "spooling", "disabled"]
"""Where events stand with the broker: acknowledged as they come, kept in the outbox while it
is unreachable, or no broker configured."""


_TOPIC_FORBIDDEN = frozenset("/+#\x00")


def topic_level(value: str, what: str) -> str:
    if not value or _TOPIC_FORBIDDEN.intersection(value):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level")
    return value


def kind_topic(prefix: str, session_id: str, kind: str) -> str:
    """The topic of a session's events of one kind."""
    return f"{prefix}/sessions/{topic_level(session_id, 'session id')}/events/{kind}"


def status_topic(prefix: str, node_id: str) -> str:
    return f"{prefix}/nodes/{topic_level(node_id, 'node id')}/status"
