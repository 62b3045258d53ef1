"""`hangup`: end the call (and the flow, even from inside a subflow)."""

from __future__ import annotations

from typing import ClassVar, Literal

from engine.flow.steps.base import RunContext, StepModel, StepOutcome, StepRun


class HangupStep(StepModel):
    type: Literal["hangup"]
    reason: str = "flow ended"
    """Given to the engine with the Hangup command, for the session log."""

    # After a remote hang-up it just ends the flow, so on_hangup may use it.
    media: ClassVar[bool] = False

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        return StepOutcome("ok", None, end_call=True, hangup_reason=self.reason)
