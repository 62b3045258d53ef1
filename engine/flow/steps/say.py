"""`say`: text to speech; the engine renders and caches the audio."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.flow.commands import Speak
from engine.flow.steps.base import (
    RunContext,
    SequentialStep,
    StepOutcome,
    StepRun,
    Template,
    play_repeated,
)


class SayStep(SequentialStep):
    type: Literal["say"]
    rendered = frozenset({"text"})
    text: Template
    voice: str | None = None
    """espeak-ng voice, e.g. 'en-us'; omitted: the configured default."""
    language: str | None = None
    """BCP 47 tag, e.g. 'en-US'."""
    rate_wpm: int | None = Field(None, ge=80, le=450)
    interruptible: bool = False
    """A digit stops the speech and is kept for the next gather (barge-in)."""
    repeat: int = Field(1, ge=1, le=100)

    def summary(self) -> str:
        return self.text

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        text = ctx.render(self.text)

        def speak(playback_id: str) -> Speak:
            return Speak(playback_id, text, self.voice, self.rate_wpm, self.language)

        return play_repeated(ctx, speak, self.repeat, self.interruptible, self.next)
