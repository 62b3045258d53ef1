"""The messages on a controller <-> worker channel.

One JSON object per line over a Unix socketpair (the worker's stdout is not usable: PJSIP
prints its log there). `call_id` is chosen by the controller and names one SIP call (a leg)
for its whole life inside one worker.
"""

from __future__ import annotations

from typing import Annotated, Literal, assert_never

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- controller -> worker


ANSWER_PROMPT_ID = "answer-prompt"
"""The playback id of a MakeCall's answer prompt (flows number theirs "playback-N")."""


class AnswerPrompt(BaseModel):
    """A prompt the worker starts by itself the moment the call is answered, as playback
    ANSWER_PROMPT_ID: the controller has predicted the flow's first prompt, so the caller hears
    it without waiting for a round trip through a busy controller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    """An 8/16 kHz mono PCM16 WAV file."""
    hangup_after_seconds: float | None = Field(None, ge=0)
    """As PlayFile's."""


class MakeCall(Message):
    type: Literal["make_call"] = "make_call"
    call_id: str
    """Controller-chosen id of this leg."""
    session_id: str
    """Sent as the X-Session-Id header on the INVITE."""
    request_uri: str
    """e.g. sip:+18144043093@127.0.0.1:5070"""
    from_uri: str
    """e.g. sip:+12025550143@127.0.0.1 (the caller ID is the user part)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra SIP headers for the INVITE."""
    trunk: str
    """Name of the trunk; the worker holds one account per trunk (see ConfigureTrunk)."""
    answer_prompt: AnswerPrompt | None = None
    """Played on answer, after CallAnswered is sent; it ends with PlaybackDone like a
    PlayFile's, and StopPlayback(ANSWER_PROMPT_ID) stops it."""


class ConfigureTrunk(Message):
    """Sent once per trunk after Ready: the worker creates its account (and REGISTERs if asked)."""

    type: Literal["configure_trunk"] = "configure_trunk"
    name: str
    registrar_uri: str | None
    """None: no REGISTER."""
    id_uri: str
    username: str | None
    password: str | None
    realm: str = "*"
    register_expires: int = 300
    transport: Literal["udp", "tcp", "tls"] = "udp"


class Hangup(Message):
    """Hang up a leg: CANCEL before the answer, BYE after; a no-op for an unknown call."""

    type: Literal["hangup"] = "hangup"
    call_id: str
    sip_code: int = 603
    """Code used when rejecting/ending an unanswered call."""


class PlayFile(Message):
    type: Literal["play_file"] = "play_file"
    call_id: str
    playback_id: str
    path: str
    """An 8/16 kHz mono PCM16 WAV file."""
    loop: bool = False
    hangup_after_seconds: float | None = Field(None, ge=0)
    """When the file ends by itself (not stopped), hang the call up this many seconds later,
    without waiting for a Hangup (the flow's end is fixed by then: HangupAfterPlayback)."""


class StopPlayback(Message):
    type: Literal["stop_playback"] = "stop_playback"
    call_id: str
    playback_id: str


class StartRecording(Message):
    type: Literal["start_recording"] = "start_recording"
    call_id: str
    recording_id: str
    path: str
    """WAV file to write; its folder exists."""
    max_seconds: float
    silence_seconds: float | None = None
    """Stop after this long below the silence level; None: never."""
    beep: bool = False


class StopRecording(Message):
    type: Literal["stop_recording"] = "stop_recording"
    call_id: str
    recording_id: str


class SendDigits(Message):
    """Answered by DigitsSent once the digits are queued, or by CommandFailed."""

    type: Literal["send_digits"] = "send_digits"
    call_id: str
    digits_id: str
    """Chosen by the controller; DigitsSent and CommandFailed carry it back."""
    digits: str
    """0-9, *, #, A-D; sent as RFC 2833 telephone-events."""


class Transfer(Message):
    """Answered by TransferResult, or by CommandFailed when the REFER could not be sent."""

    type: Literal["transfer"] = "transfer"
    call_id: str
    transfer_id: str
    """Chosen by the controller; TransferResult and CommandFailed carry it back."""
    target_uri: str
    """Refer-To of a blind transfer."""


class Bridge(Message):
    """Connect two legs' audio both ways (both legs must be in this worker)."""

    type: Literal["bridge"] = "bridge"
    call_id: str
    other_call_id: str


class Shutdown(Message):
    type: Literal["shutdown"] = "shutdown"


class StatsRequest(Message):
    type: Literal["stats_request"] = "stats_request"


# ---------------------------------------------------------------- worker -> controller


class Ready(Message):
    type: Literal["ready"] = "ready"
    worker_id: int
    sip_port: int
    pid: int


class CallProgress(Message):
    """A provisional response: 180 Ringing or 183 Session Progress (early media)."""

    type: Literal["call_progress"] = "call_progress"
    call_id: str
    sip_code: int
    reason: str
    progress_at: float
    """The worker's time.monotonic() when it arrived (see InviteSent)."""


class InviteSent(Message):
    """Times are the worker's time.monotonic() (CLOCK_MONOTONIC: one clock for every process on
    the host, so the controller can subtract its own readings from them)."""

    type: Literal["invite_sent"] = "invite_sent"
    call_id: str
    received_at: float | None = None
    """The MakeCall was read from the socket."""
    sent_at: float | None = None
    """makeCall() returned: over UDP the INVITE has left the process."""


class CallAnswered(Message):
    """200 OK, ACK sent and media active: only now may a flow start."""

    type: Literal["call_answered"] = "call_answered"
    call_id: str
    answered_at: float
    """The worker's time.monotonic() at the answer (see InviteSent): the talk time counts from
    here, not from when a busy controller reads this message."""


class RtpCounts(BaseModel):
    """One leg's audio, read from PJSIP as its stream closed (summed over re-INVITEs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    packets_sent: int
    packets_received: int
    packets_lost: int
    """Gaps in the received sequence numbers."""
    jitter_ms: float | None
    """Mean interarrival jitter of what was received."""


class CallEnded(Message):
    """The leg is over (DISCONNECTED handled, Call object dropped)."""

    type: Literal["call_ended"] = "call_ended"
    call_id: str
    sip_code: int
    """Final response code (e.g. 486), or 200 for an answered call that ended with BYE."""
    reason: str
    answered: bool
    remote_hangup: bool
    """True when the far end ended it (BYE or a final error response)."""
    rtp: RtpCounts | None = None
    """The call's audio stream(s), read as they closed; None when no media ran."""
    ended_at: float | None = None
    """The worker's time.monotonic() when the leg reached DISCONNECTED (see InviteSent)."""


class DigitReceived(Message):
    type: Literal["digit_received"] = "digit_received"
    call_id: str
    digit: str
    received_at: float | None = None
    """The worker's time.monotonic() in PJSIP's DTMF callback (see InviteSent)."""


class PlaybackDone(Message):
    type: Literal["playback_done"] = "playback_done"
    call_id: str
    playback_id: str
    stopped: bool
    """True when stopped by StopPlayback or hang-up, False when the file played to its end."""


class RecordingDone(Message):
    type: Literal["recording_done"] = "recording_done"
    call_id: str
    recording_id: str
    path: str
    duration_seconds: float
    reason: Literal["max_length", "silence", "stopped", "hangup"]


class TransferResult(Message):
    type: Literal["transfer_result"] = "transfer_result"
    call_id: str
    transfer_id: str
    """The Transfer's."""
    accepted: bool
    sip_code: int
    reason: str


class DigitsSent(Message):
    """The SendDigits' digits are queued on the call's audio stream."""

    type: Literal["digits_sent"] = "digits_sent"
    call_id: str
    digits_id: str
    """The SendDigits'."""


class CommandFailed(Message):
    """A command could not be carried out (e.g. PJ_ETOOMANY, a missing file)."""

    type: Literal["command_failed"] = "command_failed"
    call_id: str | None
    command: str
    """The failed command's `type`, e.g. "transfer"."""
    subject_id: str | None = None
    """The id the failed command named within its call (`subject_of`): a PlayFile's or
    StopPlayback's playback_id, a StartRecording's or StopRecording's recording_id, a Transfer's
    transfer_id, a SendDigits' digits_id, a Bridge's other_call_id; None for commands about a
    whole call or the worker."""
    reason: str


class Stats(Message):
    type: Literal["stats"] = "stats"
    active_calls: int
    rss_bytes: int
    cpu_seconds: float


ToWorker = Annotated[
    MakeCall
    | ConfigureTrunk
    | Hangup
    | PlayFile
    | StopPlayback
    | StartRecording
    | StopRecording
    | SendDigits
    | Transfer
    | Bridge
    | Shutdown
    | StatsRequest,
    Field(discriminator="type"),
]

FromWorker = Annotated[
    Ready
    | InviteSent
    | CallProgress
    | CallAnswered
    | CallEnded
    | DigitReceived
    | PlaybackDone
    | RecordingDone
    | TransferResult
    | DigitsSent
    | CommandFailed
    | Stats,
    Field(discriminator="type"),
]

TO_WORKER: TypeAdapter[ToWorker] = TypeAdapter(ToWorker)
FROM_WORKER: TypeAdapter[FromWorker] = TypeAdapter(FromWorker)


def subject_of(command: ToWorker) -> str | None:
    """The id a command names within its call (CommandFailed.subject_id), if it names one."""
    match command:
        case PlayFile() | StopPlayback():
            return command.playback_id
        case StartRecording() | StopRecording():
            return command.recording_id
        case Transfer():
            return command.transfer_id
        case SendDigits():
            return command.digits_id
        case Bridge():
            return command.other_call_id
        case MakeCall() | ConfigureTrunk() | Hangup() | Shutdown() | StatsRequest():
            return None
        case _:
            assert_never(command)
