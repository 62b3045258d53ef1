"""`dial`: place a second call, bridge it, and wait until either leg hangs up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from engine.flow.commands import DialLeg, HangupLeg
from engine.flow.events import DialAnswered, DialFinished
from engine.flow.steps.base import (
    CallGone,
    FailableStep,
    RunContext,
    StepRun,
    Template,
)


class DialStep(FailableStep):
    type: Literal["dial"]
    rendered = frozenset({"target", "caller_id"})
    target: Template
    """E.164 number or sip: URI (templated)."""
    caller_id: Template | None = None
    """The second leg's caller ID; omitted: the engine's choice."""
    ring_timeout: float = Field(30.0, gt=0, le=300)
    trunk: str | None = None
    """Trunk name for the second leg; omitted: the call's trunk."""

    def summary(self) -> str:
        return self.target

    def run(self, ctx: RunContext) -> StepRun:
        leg_id = ctx.new_id("leg")
        caller_id = ctx.render(self.caller_id) if self.caller_id else None
        target = ctx.render(self.target)
        ctx.emit(DialLeg(leg_id, target, caller_id, self.ring_timeout, self.trunk))
        try:
            while True:
                event = yield
                if isinstance(event, DialAnswered) and event.leg_id == leg_id:
                    ctx.variables["dial"] = {"answered": True}
                elif isinstance(event, DialFinished) and event.leg_id == leg_id:
                    break
        except CallGone:
            ctx.emit(HangupLeg(leg_id))
            raise
        ctx.variables["dial"] = {
            "answered": event.answered,
            "sip_code": event.sip_code,
            "reason": event.reason,
            "duration": event.duration_seconds,
        }
        return self.ended(event.answered, f"{event.sip_code} {event.reason}")
