"""`record`: record the caller into a file named by the session; path and duration to variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.flow.commands import StartRecording, StopRecording
from engine.flow.events import DigitReceived, RecordingFinished, TimerFired
from engine.flow.steps.base import (
    CallGone,
    DtmfKey,
    Identifier,
    RunContext,
    SequentialStep,
    StepOutcome,
    StepRun,
    Template,
)

# How long to wait for RecordingFinished beyond max_seconds, or after a hang-up, before giving up.
GRACE_SECONDS = 5.0


class RecordStep(SequentialStep):
    type: Literal["record"]
    rendered = frozenset({"name"})
    max_seconds: float = Field(60.0, gt=0, le=3600)
    finish_key: DtmfKey | None = "#"
    """A digit that ends the recording."""
    silence_seconds: float | None = Field(5.0, gt=0)
    """Stop after this much silence; null: never."""
    beep: bool = True
    """Play a beep before recording."""
    name: Template | None = None
    """File name (templated); the engine keeps it under the session's recordings folder."""
    variable: Identifier = "recording"
    """Gets {path, duration, reason}: `{{ recording.path }}`, `{{ recording.duration }}`."""

    def summary(self) -> str:
        return f"up to {self.max_seconds:g} s"

    def run(self, ctx: RunContext) -> StepRun:
        recording_id = ctx.new_id("recording")
        name = ctx.render(self.name) if self.name else f"{ctx.step}-{recording_id}.wav"
        name = name.replace("/", "_").replace("\\", "_")
        ctx.emit(
            StartRecording(recording_id, name, self.max_seconds, self.silence_seconds, self.beep)
        )
        guard = ctx.set_timer(self.max_seconds + GRACE_SECONDS)
        hung_up = False
        while True:
            try:
                event = yield
            except CallGone:
                # The engine still reports the file it wrote; wait a little for it.
                hung_up = True
                ctx.cancel_timer(guard)
                guard = ctx.set_timer(GRACE_SECONDS)
                continue
            if isinstance(event, RecordingFinished) and event.recording_id == recording_id:
                ctx.variables[self.variable] = {
                    "path": event.path,
                    "duration": event.duration_seconds,
                    "reason": event.reason,
                }
                if event.reason == "failed":
                    return StepOutcome("failed", self.next, detail="the recording could not start")
                result = "hangup" if hung_up else "ok"
                return StepOutcome(result, self.next, detail=f"{event.duration_seconds:.1f} s")
            if isinstance(event, DigitReceived) and event.digit == self.finish_key:
                ctx.emit(StopRecording(recording_id))
            elif isinstance(event, TimerFired) and event.timer_id == guard:
                ctx.emit(StopRecording(recording_id))
                return StepOutcome("failed", self.next, detail="no recording reported")
