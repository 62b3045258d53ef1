"""`goto`: continue at another step."""

from __future__ import annotations

from typing import ClassVar, Literal

from engine.flow.steps.base import Edge, RunContext, StepModel, StepOutcome, StepRun


class GotoStep(StepModel):
    type: Literal["goto"]
    target: str
    """The step to continue with."""

    media: ClassVar[bool] = False

    def edges(self) -> list[Edge]:
        return [Edge("goto", self.target, ("target",))]

    def summary(self) -> str:
        return self.target

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        return StepOutcome("ok", self.target)
