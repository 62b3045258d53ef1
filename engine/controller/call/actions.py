"""What the call core asks its driver to do: plain data, carried out in the order returned.

A line of the session log is the `str` itself and an event to emit is its payload itself (a
`SessionEventData`), unwrapped because a call makes dozens of each. The others are slotted
dataclasses, cheap to build; nothing keeps them once carried out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from engine.events.model import SessionEventData
from engine.flow import commands as cmd
from engine.ipc import messages as msg
from engine.sessions.model import CallState, Outcome


class TimerKind(StrEnum):
    RING = "ring"
    """The main leg's ring timeout."""
    MAX_DURATION = "max_duration"
    """The trunk's longest call."""
    HANGUP_GRACE = "hangup_grace"
    """How long on_hangup steps may run after the main leg ended."""
    TAIL_HANGUP = "tail_hangup"
    """How long the worker has to hang up by itself after the flow's last prompt."""
    FLOW = "flow"
    """A flow's SetTimer (its id is the flow's timer id)."""
    LEG_RING = "leg_ring"
    """A second leg's ring timeout (its id is the leg's call id)."""


class TimerKey(NamedTuple):
    """A timer of the call (a tuple: a cheap dict key)."""

    kind: TimerKind
    id: str = ""


@dataclass(slots=True)
class Send:
    """Send a message to the worker that holds the call."""

    message: msg.ToWorker


@dataclass(slots=True)
class PlaceLeg:
    """Turn one of the slots reserved on the call's worker into this leg (routing its messages
    to this call), then send the MakeCall."""

    make_call: msg.MakeCall


@dataclass(slots=True)
class Record:
    """Make the recording's folder, then send the StartRecording."""

    start: msg.StartRecording


@dataclass(slots=True)
class StartTimer:
    key: TimerKey
    deadline: float
    """On the clock of `now`; the driver answers with `timer_fired(key, now)`."""


@dataclass(slots=True)
class StopTimer:
    key: TimerKey


@dataclass(slots=True)
class RecordState:
    """Write the session's call state (and, for Connected, when it was answered)."""

    state: CallState


@dataclass(slots=True)
class RecordOutcome:
    """Write the session's final state, with its log so far, durably."""

    outcome: Outcome
    sip_code: int | None
    reason: str | None


@dataclass(slots=True)
class StartFlow:
    """Make the session's flow run; answer with `flow_started(run, now)` or, when the flow
    cannot be loaded, `flow_unavailable(error, now)`."""


@dataclass(slots=True)
class RenderSpeech:
    """Find or render the prompt's audio; answer with `speech_ready(playback_id, path, error,
    now)`."""

    command: cmd.Speak


@dataclass(slots=True)
class RequestWebhook:
    """Make the HTTP request; answer with `flow_event(WebhookCompleted(...), now)`."""

    command: cmd.CallWebhook


@dataclass(slots=True)
class ReleaseSlots:
    """Give back worker slots reserved for second legs that were never dialled."""

    count: int


@dataclass(slots=True)
class Finished:
    """The session is over: stop its timers and tasks, and forget the call."""


Action = (
    str
    | SessionEventData
    | Send
    | PlaceLeg
    | Record
    | StartTimer
    | StopTimer
    | RecordState
    | RecordOutcome
    | StartFlow
    | RenderSpeech
    | RequestWebhook
    | ReleaseSlots
    | Finished
)
