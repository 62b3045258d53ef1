"""`send_digits`: DTMF to the far end (RFC 2833)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from engine.errors import FlowRuntimeError
from engine.flow import templates
from engine.flow.commands import SendDigits
from engine.flow.events import DigitsSent
from engine.flow.steps.base import RunContext, SequentialStep, StepOutcome, StepRun, Template

_DIGITS = re.compile(r"[0-9*#A-D]+")


class SendDigitsStep(SequentialStep):
    type: Literal["send_digits"]
    rendered = frozenset({"digits"})
    digits: Template
    """0-9 * # A-D (templated)."""

    @field_validator("digits")
    @classmethod
    def _dtmf(cls, digits: str) -> str:
        if not templates.is_template(digits) and not _DIGITS.fullmatch(digits):
            raise ValueError(f"{digits!r}: only 0-9 * # A-D can be sent")
        return digits

    def summary(self) -> str:
        return self.digits

    def run(self, ctx: RunContext) -> StepRun:
        digits = ctx.render(self.digits)
        if not _DIGITS.fullmatch(digits):
            raise FlowRuntimeError(f"send_digits: {digits!r}: only 0-9 * # A-D can be sent")
        request_id = ctx.new_id("digits")
        ctx.emit(SendDigits(request_id, digits))
        while True:
            event = yield
            if isinstance(event, DigitsSent) and event.request_id == request_id:
                return StepOutcome("ok" if event.ok else "failed", self.next, detail=digits)
