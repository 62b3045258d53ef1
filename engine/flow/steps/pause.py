"""`pause`: silence for a while."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.flow.steps.base import RunContext, SequentialStep, StepOutcome, StepRun, sleep


class PauseStep(SequentialStep):
    type: Literal["pause"]
    seconds: float = Field(gt=0, le=3600)

    def summary(self) -> str:
        return f"{self.seconds:g} s"

    def run(self, ctx: RunContext) -> StepRun:
        yield from sleep(ctx, self.seconds)
        return StepOutcome("ok", self.next)
