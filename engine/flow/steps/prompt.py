"""A prompt inside another step (gather): either `say` text or `play` a file."""

from __future__ import annotations

from pydantic import Field, model_validator

from engine.flow.commands import FlowCommand, PlayAudio, Speak
from engine.flow.steps.base import AudioFile, RunContext, StepFields, Template, resolve_path


class Prompt(StepFields):
    rendered = frozenset({"say"})

    say: Template | None = None
    """Text to speech (templated)."""
    play: AudioFile | None = None
    """A WAV file, relative to the flow file's folder."""
    voice: str | None = None
    language: str | None = None
    rate_wpm: int | None = Field(None, ge=80, le=450)

    @model_validator(mode="after")
    def _one_source(self) -> Prompt:
        if (self.say is None) == (self.play is None):
            raise ValueError("a prompt needs exactly one of 'say' or 'play'")
        return self

    def command(self, ctx: RunContext, playback_id: str) -> FlowCommand:
        if self.play is not None:
            return PlayAudio(playback_id, str(resolve_path(ctx.flow_dir, self.play)))
        return Speak(
            playback_id,
            ctx.render(self.say or ""),
            voice=self.voice,
            rate_wpm=self.rate_wpm,
            language=self.language,
        )
