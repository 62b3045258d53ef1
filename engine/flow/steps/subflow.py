"""`subflow`: run another flow file by id (sharing variables), then continue with `next`."""

from __future__ import annotations

from typing import ClassVar, Literal

from engine.flow.steps.base import FlowId, RunContext, SequentialStep, StepOutcome, StepRun


class SubflowStep(SequentialStep):
    type: Literal["subflow"]
    flow: FlowId
    """The id (file stem) of a flow in the same folder."""

    # Its own steps are checked when they run: media steps are skipped after a hang-up.
    media: ClassVar[bool] = False

    def summary(self) -> str:
        return self.flow

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        return StepOutcome("called", self.next, detail=self.flow, subflow=self.flow)
