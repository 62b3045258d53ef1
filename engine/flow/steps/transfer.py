"""`transfer`: blind transfer by SIP REFER to a number or SIP URI."""

from __future__ import annotations

from typing import Literal

from engine.flow.commands import TransferCall
from engine.flow.events import TimerFired, TransferFinished
from engine.flow.steps.base import FailableStep, RunContext, StepRun, Template

REFER_TIMEOUT_SECONDS = 40.0
"""The longest wait for the REFER's result: SIP's non-INVITE transaction timeout (Timer F,
32 s) and a margin, so that a result that never comes cannot hold the call until its limit."""


class TransferStep(FailableStep):
    type: Literal["transfer"]
    rendered = frozenset({"target"})
    target: Template
    """E.164 number (+12025550143) or sip: URI (templated)."""

    def summary(self) -> str:
        return self.target

    def run(self, ctx: RunContext) -> StepRun:
        transfer_id = ctx.new_id("transfer")
        ctx.emit(TransferCall(transfer_id, ctx.render(self.target)))
        guard = ctx.set_timer(REFER_TIMEOUT_SECONDS)
        while True:
            event = yield
            if isinstance(event, TransferFinished) and event.transfer_id == transfer_id:
                ctx.cancel_timer(guard)
                accepted, sip_code, reason = event.accepted, event.sip_code, event.reason
                break
            if isinstance(event, TimerFired) and event.timer_id == guard:
                accepted, sip_code = False, 408
                reason = f"no answer to the REFER in {REFER_TIMEOUT_SECONDS:g} s"
                break
        ctx.variables["transfer"] = {"accepted": accepted, "sip_code": sip_code, "reason": reason}
        return self.ended(accepted, f"{sip_code} {reason}")
