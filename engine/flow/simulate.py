"""Run a flow on a virtual clock with scripted caller behaviour, without SIP.

The simulator plays the engine's part: it answers every command with the event a real call would
produce (a prompt ends after an estimated speaking time, a webhook answers at once...) and prints
what the caller would hear. The benchmark reuses it.
"""

from __future__ import annotations

import heapq
import itertools
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

from engine.flow import commands as c
from engine.flow import events as e
from engine.flow.machine import FlowRun
from engine.flow.model import Flow

SPEECH_CHARS_PER_SECOND = 14.0
"""About 150 words a minute."""
DIGIT_GAP_SECONDS = 0.5
"""The scripted caller types a digit this long after a gather starts listening."""


@dataclass
class Script:
    """What the simulated caller and services do."""

    digits: str = ""
    """Typed one by one whenever a gather listens (after its prompt)."""
    digits_at: list[tuple[float, str]] = field(default_factory=list)
    """(time, digit): pressed at that time whatever the flow does."""
    hangup_at: float | None = None
    silence: bool = False
    """The caller never types (--digits is ignored) and never speaks."""
    webhook_response: dict[str, Any] | None = None
    webhook_fail: bool = False
    recording_seconds: float = 3.0
    """How long the caller speaks once a recording starts; then they are silent."""
    transfer_accepted: bool = True
    dial_answered: bool = True
    dial_seconds: float = 5.0
    max_seconds: float = 3600.0


@dataclass(frozen=True)
class Line:
    time: float
    text: str


@dataclass
class Result:
    lines: list[Line]
    finished: c.FlowFinished | None
    steps: int
    """Steps started."""
    variables: dict[str, Any]

    def render(self) -> str:
        return "\n".join(f"{line.time:7.2f}  {line.text}" for line in self.lines)


class Simulator:
    def __init__(
        self,
        flow: Flow,
        script: Script,
        lookup: Callable[[str], Flow] | None = None,
        quiet: bool = False,
    ) -> None:
        self.script = script
        self.quiet = quiet
        facts = e.SessionFacts(
            id="sim-0001",
            flow=flow.id,
            destination="+12025550100",
            caller_id="+12025550143",
            answered_at="2024-01-01T00:00:00Z",
        )
        self.run = FlowRun(flow, facts, registry_lookup=lookup)
        self.now = 0.0
        self._queue: list[tuple[float, int, e.FlowEvent]] = []
        self._order = itertools.count()
        self._playing: set[str] = set()
        self._typed = iter("" if script.silence else script.digits)
        self._digit_due = False
        self._lines: list[Line] = []
        self._finished: c.FlowFinished | None = None
        self._steps = 0
        self._recordings: dict[str, tuple[float, str]] = {}
        """Recordings going on, by id: when each started and its file."""
        self._ended_early: set[str] = set()
        """Recordings a finish key or a hang-up ended, whose report is on its way."""

    def at(self, time: float, event: e.FlowEvent) -> None:
        heapq.heappush(self._queue, (time, next(self._order), event))

    def say(self, text: str) -> None:
        if not self.quiet:
            self._lines.append(Line(self.now, text))

    def execute(self) -> Result:
        for time, digit in self.script.digits_at:
            self.at(time, e.DigitReceived(digit))
        if self.script.hangup_at is not None:
            self.at(self.script.hangup_at, e.RemoteHangup())
        self._apply(self.run.start(self.now))
        while not self.run.finished and self._queue:
            self._maybe_type()
            time, _, event = heapq.heappop(self._queue)
            if time > self.script.max_seconds:
                self.say(f"simulation stopped at {self.script.max_seconds:g} s")
                return self._result()
            self.now = max(self.now, time)
            if isinstance(event, e.RecordingFinished) and not self._reported(event):
                continue
            self._note(event)
            self._apply(self.run.handle(event, self.now))
        if not self.run.finished:
            self.say("the flow is stuck waiting for an event nothing will send")
        return self._result()

    def _result(self) -> Result:
        return Result(self._lines, self._finished, self._steps, dict(self.run.variables))

    def _maybe_type(self) -> None:
        if self.run.wants_digits and not self._playing and not self._digit_due:
            digit = next(self._typed, None)
            if digit is not None:
                self._digit_due = True
                self.at(self.now + DIGIT_GAP_SECONDS, e.DigitReceived(digit))

    def _note(self, event: e.FlowEvent) -> None:
        if isinstance(event, e.DigitReceived):
            self._digit_due = False
            self.say(f"caller presses {event.digit}")
        elif isinstance(event, e.RemoteHangup):
            self.say("caller hangs up")
            for recording_id in list(self._recordings):
                self.end_recording(recording_id, "hangup")
        elif isinstance(event, e.PlaybackFinished):
            self._playing.discard(event.playback_id)

    def start_recording(self, recording_id: str, path: str) -> None:
        self._recordings[recording_id] = (self.now, path)

    def end_recording(self, recording_id: str, reason: Literal["stopped", "hangup"]) -> None:
        """The recording ends now (the engine reports it at once), if it still goes on."""
        started = self._recordings.pop(recording_id, None)
        if started is not None:
            start, path = started
            self._ended_early.add(recording_id)
            self.at(self.now, e.RecordingFinished(recording_id, path, self.now - start, reason))

    def _reported(self, event: e.RecordingFinished) -> bool:
        """Whether this end of a recording is the one the engine reports: not its scheduled
        end when a finish key or a hang-up ended it first."""
        if self._recordings.pop(event.recording_id, None) is not None:
            return True
        if event.recording_id in self._ended_early:
            self._ended_early.discard(event.recording_id)
            return True
        return False

    def _apply(self, commands: list[c.FlowCommand]) -> None:
        for command in commands:
            self._command(command)

    def _command(self, command: c.FlowCommand) -> None:
        match command:
            case c.StepStarted():
                _step_started(self, command)
            case c.StepFinished():
                _step_finished(self, command)
            case c.Speak():
                _speak(self, command)
            case c.PlayAudio():
                _play(self, command)
            case c.StopPlayback():
                _stop_playback(self, command)
            case c.SetTimer():
                _set_timer(self, command)
            case c.StartRecording():
                _start_recording(self, command)
            case c.CallWebhook():
                _webhook(self, command)
            case c.TransferCall():
                _transfer(self, command)
            case c.DialLeg():
                _dial(self, command)
            case c.HangupLeg():
                _hangup_leg(self, command)
            case c.SendDigits():
                _send_digits(self, command)
            case c.Hangup():
                _hangup(self, command)
            case c.FlowFinished():
                _finished(self, command)
            case c.StopRecording():
                self.end_recording(command.recording_id, "stopped")
            case c.CancelTimer() | c.HangupAfterPlayback():
                pass  # a cancelled timer's TimerFired is ignored by the run; nothing to show
            case _:
                assert_never(command)


def _step_started(sim: Simulator, cmd: c.StepStarted) -> None:
    sim._steps += 1
    detail = f": {cmd.detail}" if cmd.detail else ""
    sim.say(f"[{cmd.step}] {cmd.step_type}{detail}")


def _step_finished(sim: Simulator, cmd: c.StepFinished) -> None:
    detail = f" ({cmd.detail})" if cmd.detail else ""
    sim.say(f"[{cmd.step}] -> {cmd.result}{detail}")


def _speak(sim: Simulator, cmd: c.Speak) -> None:
    sim.say(f"caller hears: {cmd.text}")
    sim._playing.add(cmd.playback_id)
    seconds = max(0.5, len(cmd.text) / SPEECH_CHARS_PER_SECOND)
    sim.at(sim.now + seconds, e.PlaybackFinished(cmd.playback_id))


def _play(sim: Simulator, cmd: c.PlayAudio) -> None:
    sim.say(f"plays file {cmd.path}")
    sim._playing.add(cmd.playback_id)
    sim.at(sim.now + _wav_seconds(cmd.path), e.PlaybackFinished(cmd.playback_id))


def _wav_seconds(path: str) -> float:
    try:
        with wave.open(path, "rb") as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (OSError, wave.Error, EOFError):
        return 1.0


def _stop_playback(sim: Simulator, cmd: c.StopPlayback) -> None:
    if cmd.playback_id in sim._playing:
        sim._playing.discard(cmd.playback_id)
        sim.say("engine stops the prompt")
        sim.at(sim.now, e.PlaybackFinished(cmd.playback_id, interrupted=True))


def _set_timer(sim: Simulator, cmd: c.SetTimer) -> None:
    sim.at(cmd.deadline, e.TimerFired(cmd.timer_id))


def _start_recording(sim: Simulator, cmd: c.StartRecording) -> None:
    """As the engine records: the caller speaks for `recording_seconds` (not at all with
    `silence`), and the silence rule ends the recording `silence_seconds` after that; a finish
    key or a hang-up ends it sooner (`end_recording`), `max_seconds` at the latest."""
    beep = " after a beep" if cmd.beep else ""
    sim.say(f"engine records {cmd.name}{beep} (at most {cmd.max_seconds:g} s)")
    speech = 0.0 if sim.script.silence else sim.script.recording_seconds
    seconds = cmd.max_seconds
    reason: Literal["max_length", "silence"] = "max_length"
    if cmd.silence_seconds is not None and speech + cmd.silence_seconds < cmd.max_seconds:
        seconds, reason = speech + cmd.silence_seconds, "silence"
    path = f"var/recordings/sim-0001/{cmd.name}"
    sim.start_recording(cmd.recording_id, path)
    sim.at(sim.now + seconds, e.RecordingFinished(cmd.recording_id, path, seconds, reason))


def _webhook(sim: Simulator, cmd: c.CallWebhook) -> None:
    sim.say(f"engine calls webhook {cmd.method} {cmd.url}")
    if sim.script.webhook_fail:
        event = e.WebhookCompleted(cmd.request_id, None, error="simulated failure")
    else:
        event = e.WebhookCompleted(cmd.request_id, 200, dict(sim.script.webhook_response or {}))
    sim.at(sim.now + 0.1, event)


def _transfer(sim: Simulator, cmd: c.TransferCall) -> None:
    sim.say(f"engine transfers the call to {cmd.target} (SIP REFER)")
    accepted = sim.script.transfer_accepted
    reason = "Accepted" if accepted else "Forbidden"
    sim.at(
        sim.now + 0.2,
        e.TransferFinished(cmd.transfer_id, accepted, 202 if accepted else 403, reason),
    )


def _dial(sim: Simulator, cmd: c.DialLeg) -> None:
    sim.say(f"engine dials {cmd.target} and bridges it")
    if sim.script.dial_answered:
        sim.at(sim.now + 2.0, e.DialAnswered(cmd.leg_id))
        end = sim.now + 2.0 + sim.script.dial_seconds
        sim.at(end, e.DialFinished(cmd.leg_id, True, 200, "BYE", sim.script.dial_seconds))
    else:
        sim.at(
            sim.now + cmd.ring_timeout_seconds, e.DialFinished(cmd.leg_id, False, 408, "Timeout")
        )


def _hangup_leg(sim: Simulator, cmd: c.HangupLeg) -> None:
    sim.say(f"engine hangs up leg {cmd.leg_id}")


def _send_digits(sim: Simulator, cmd: c.SendDigits) -> None:
    sim.say(f"engine sends digits {cmd.digits}")
    sim.at(sim.now + 0.1 * len(cmd.digits), e.DigitsSent(cmd.request_id))


def _hangup(sim: Simulator, cmd: c.Hangup) -> None:
    sim.say(f"engine hangs up ({cmd.reason})")


def _finished(sim: Simulator, cmd: c.FlowFinished) -> None:
    sim._finished = cmd
    error = f": {cmd.error}" if cmd.error else ""
    sim.say(f"flow finished: {cmd.result}{error}")


def simulate(
    flow: Flow, script: Script, lookup: Callable[[str], Flow] | None = None, quiet: bool = False
) -> Result:
    return Simulator(flow, script, lookup, quiet).execute()
