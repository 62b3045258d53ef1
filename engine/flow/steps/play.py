"""`play`: a WAV file, optionally interruptible by a digit and repeated."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.flow.commands import PlayAudio
from engine.flow.steps.base import (
    AudioFile,
    RunContext,
    SequentialStep,
    StepOutcome,
    StepRun,
    play_repeated,
    resolve_path,
)


class PlayStep(SequentialStep):
    type: Literal["play"]
    file: AudioFile
    """WAV path, relative to the flow file's folder, or absolute."""
    interruptible: bool = False
    """A digit stops the playback and is kept for the next gather (barge-in)."""
    repeat: int = Field(1, ge=1, le=100)

    def summary(self) -> str:
        return self.file

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        path = str(resolve_path(ctx.flow_dir, self.file))
        return play_repeated(
            ctx, lambda pid: PlayAudio(pid, path), self.repeat, self.interruptible, self.next
        )
