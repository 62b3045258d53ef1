"""`hangup`: end the call (and the flow, even from inside a subflow)."""

from __future__ import annotations

from typing import ClassVar, Literal

from engine.flow.steps.base import RunContext, StepModel, StepOutcome, StepRun, Template


class HangupStep(StepModel):
    type: Literal["hangup"]
    rendered = frozenset({"reason"})
    reason: Template = "flow ended"
    """Given to the engine with the Hangup command, for the session log (templated)."""

    # After a remote hang-up it just ends the flow, so on_hangup may use it.
    media: ClassVar[bool] = False

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        return StepOutcome("ok", None, end_call=True, hangup_reason=ctx.render(self.reason))
