"""What a flow asks the engine to do, returned by `FlowRun.handle(event, now)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class PlayAudio:
    playback_id: str
    path: str
    """Absolute path of a WAV file (checked by the validator)."""


@dataclass(frozen=True)
class Speak:
    """Text to speech: the engine renders (and caches) a WAV, then plays it like PlayAudio."""

    playback_id: str
    text: str
    voice: str | None = None
    """espeak-ng voice, e.g. 'en-us'; None: the configured default."""
    rate_wpm: int | None = None
    """Speaking rate in words per minute; None: the engine's default."""
    language: str | None = None
    """BCP 47 language tag, e.g. 'en-US', for engines that pick a voice by language; None: any."""


@dataclass(frozen=True)
class HangupAfterPlayback:
    """Sent just before a prompt whose end fixes the call's end: when the prompt ends by itself,
    only pauses lie between it and a hang-up. The engine may then hang up `seconds` after the
    prompt's end on its own, without waiting for the flow's Hangup; the flow still gets to its
    hangup step as usual."""

    playback_id: str
    seconds: float


@dataclass(frozen=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True)
class StartRecording:
    recording_id: str
    name: str
    """File name; the engine puts it under the recordings folder of the session."""
    max_seconds: float
    silence_seconds: float | None = None
    beep: bool = False


@dataclass(frozen=True)
class StopRecording:
    recording_id: str


@dataclass(frozen=True)
class SetTimer:
    timer_id: str
    deadline: float
    """Absolute time on the same clock as `now`; the engine answers with TimerFired."""


@dataclass(frozen=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True)
class SendDigits:
    request_id: str
    """DigitsSent answers with it."""
    digits: str


@dataclass(frozen=True)
class TransferCall:
    transfer_id: str
    """TransferFinished answers with it."""
    target: str
    """An E.164 number (sent through the call's trunk) or a sip: URI."""


@dataclass(frozen=True)
class DialLeg:
    """Place a second call and bridge it to this one when it answers."""

    leg_id: str
    target: str
    """E.164 number or sip: URI."""
    caller_id: str | None
    ring_timeout_seconds: float
    trunk: str | None = None


@dataclass(frozen=True)
class HangupLeg:
    leg_id: str


@dataclass(frozen=True)
class CallWebhook:
    request_id: str
    method: Literal["GET", "POST"]
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json_body: dict[str, Any] | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Hangup:
    reason: str = "flow ended"


@dataclass(frozen=True)
class StepStarted:
    """For the session log and events: a step began."""

    step: str
    step_type: str
    detail: str = ""


@dataclass(frozen=True)
class StepFinished:
    step: str
    step_type: str
    result: str
    """e.g. 'ok', 'no_input', 'no_match', 'failed', 'interrupted'."""
    detail: str = ""


@dataclass(frozen=True)
class FlowFinished:
    """The run is over. Only a Hangup may follow (when the flow ended while the caller was still
    there); `error` is set when the flow failed."""

    result: Literal["completed", "hangup", "error"]
    error: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)


FlowCommand = (
    PlayAudio
    | Speak
    | HangupAfterPlayback
    | StopPlayback
    | StartRecording
    | StopRecording
    | SetTimer
    | CancelTimer
    | SendDigits
    | TransferCall
    | DialLeg
    | HangupLeg
    | CallWebhook
    | Hangup
    | StepStarted
    | StepFinished
    | FlowFinished
)
