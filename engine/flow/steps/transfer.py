"""`transfer`: blind transfer by SIP REFER to a number or SIP URI."""

from __future__ import annotations

from typing import Literal

from engine.flow.commands import TransferCall
from engine.flow.events import TransferFinished
from engine.flow.steps.base import FailableStep, RunContext, StepRun, Template


class TransferStep(FailableStep):
    type: Literal["transfer"]
    target: Template
    """E.164 number (+12025550143) or sip: URI (templated)."""

    def summary(self) -> str:
        return self.target

    def run(self, ctx: RunContext) -> StepRun:
        ctx.emit(TransferCall(ctx.render(self.target)))
        while True:
            event = yield
            if isinstance(event, TransferFinished):
                break
        ctx.variables["transfer"] = {
            "accepted": event.accepted,
            "sip_code": event.sip_code,
            "reason": event.reason,
        }
        return self.ended(event.accepted, f"{event.sip_code} {event.reason}")
