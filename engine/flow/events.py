"""What happens to a call, fed into `FlowRun.handle(event, now)`.

Times are seconds on the caller's monotonic clock, passed in as `now`; events carry no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class DigitReceived:
    digit: str
    """One of 0-9 * # A-D, from RFC 2833."""


@dataclass(frozen=True)
class PlaybackFinished:
    playback_id: str
    """The id given in the Play/Say command."""
    interrupted: bool = False
    """True when a StopPlayback or the hang-up ended it before its end."""


@dataclass(frozen=True)
class RecordingFinished:
    recording_id: str
    path: str
    """Where the WAV file was written."""
    duration_seconds: float
    reason: Literal["max_length", "silence", "stopped", "hangup", "failed"]
    """"failed": the engine could not start it (nothing was recorded)."""


@dataclass(frozen=True)
class TimerFired:
    timer_id: str
    """The id given in SetTimer."""


@dataclass(frozen=True)
class WebhookCompleted:
    request_id: str
    status_code: int | None
    """None when no HTTP response came (timeout, connection refused)."""
    json_body: dict[str, Any] | None = None
    """The response body when it was a JSON object."""
    error: str | None = None
    """Why the request failed, when it did."""


@dataclass(frozen=True)
class TransferFinished:
    transfer_id: str
    """The TransferCall's."""
    accepted: bool
    """The far end accepted the REFER (2xx)."""
    sip_code: int
    reason: str


@dataclass(frozen=True)
class DialFinished:
    """The second leg of a `dial` step is over (never answered, or hung up after the bridge)."""

    leg_id: str
    answered: bool
    sip_code: int
    reason: str
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class DialAnswered:
    leg_id: str


@dataclass(frozen=True)
class RemoteHangup:
    """The caller's leg is gone: only non-media steps (on_hangup) may still run."""

    sip_code: int = 200
    reason: str = "BYE"


@dataclass(frozen=True)
class DigitsSent:
    request_id: str
    """The SendDigits'."""
    ok: bool = True
    """False when the digits could not be sent (the call is over, no audio)."""


FlowEvent = (
    DigitReceived
    | PlaybackFinished
    | RecordingFinished
    | TimerFired
    | WebhookCompleted
    | TransferFinished
    | DialAnswered
    | DialFinished
    | RemoteHangup
    | DigitsSent
)


@dataclass(frozen=True)
class SessionFacts:
    """What the flow knows about its session, exposed as `session.*` variables."""

    id: str
    flow: str
    destination: str
    caller_id: str
    answered_at: str
    """ISO 8601 time the call was answered."""
    extra: dict[str, Any] = field(default_factory=dict)
