"""`gather`: collect digits into a variable, with a prompt, timeouts, validation and retries."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Literal

from pydantic import Field, model_validator

from engine.flow.events import DigitReceived, FlowEvent, TimerFired
from engine.flow.steps.base import (
    DtmfKey,
    Edge,
    Identifier,
    Regex,
    RunContext,
    SequentialStep,
    StepOutcome,
    StepRun,
    play_once,
)
from engine.flow.steps.prompt import Prompt


class GatherStep(SequentialStep):
    type: Literal["gather"]
    variable: Identifier = "digits"
    """Where the digits go; `<variable>_status` gets 'ok', 'no_input' or 'no_match'."""
    min_digits: int = Field(1, ge=1, le=64)
    max_digits: int = Field(1, ge=1, le=64)
    first_digit_timeout: float = Field(5.0, gt=0, le=600)
    inter_digit_timeout: float = Field(3.0, gt=0, le=600)
    finish_key: DtmfKey | None = "#"
    """Ends the input early; it is not part of the digits."""
    prompt: Prompt | None = None
    """Played first; a digit interrupts it."""
    retry_prompt: Prompt | None = None
    """Played on each retry instead of `prompt`."""
    pattern: Regex | None = None
    """The digits must match this whole regular expression, or it is a no_match."""
    retries: int = Field(2, ge=0, le=10)
    """How many more times to prompt after no input or no match."""
    no_input: str | None = None
    """The step after the last try got no digit; omitted: `next`."""
    no_match: str | None = None
    """The step after the last try got digits that did not match; omitted: `next`."""

    @model_validator(mode="after")
    def _digit_range(self) -> GatherStep:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is larger than max_digits")
        return self

    def edges(self) -> list[Edge]:
        edges = super().edges()
        if self.no_input:
            edges.append(Edge("no_input", self.no_input, ("no_input",)))
        if self.no_match:
            edges.append(Edge("no_match", self.no_match, ("no_match",)))
        return edges

    def summary(self) -> str:
        return f"{self.min_digits}-{self.max_digits} digits into {self.variable}"

    def run(self, ctx: RunContext) -> StepRun:
        status, digits = "no_input", ""
        for attempt in range(self.retries + 1):
            prompt = self.retry_prompt if attempt and self.retry_prompt else self.prompt
            digits = yield from self._collect(ctx, prompt)
            status = self._judge(digits)
            if status == "ok":
                break
        ctx.variables[self.variable] = digits
        ctx.variables[f"{self.variable}_status"] = status
        target = {"ok": None, "no_input": self.no_input, "no_match": self.no_match}[status]
        return StepOutcome(status, target or self.next, detail=digits)

    def _judge(self, digits: str) -> str:
        if not digits:
            return "no_input"
        if len(digits) < self.min_digits:
            return "no_match"
        if self.pattern is not None and re.fullmatch(self.pattern, digits) is None:
            return "no_match"
        return "ok"

    def _add(self, digits: str, digit: str) -> tuple[str, bool]:
        """The digits so far, and whether the input is complete."""
        if digit == self.finish_key:
            return digits, True
        digits += digit
        return digits, len(digits) >= self.max_digits

    def _collect(self, ctx: RunContext, prompt: Prompt | None) -> Generator[None, FlowEvent, str]:
        ctx.wants_digits = True
        digits, done = "", False
        # Digits that interrupted an earlier prompt count as typed here (type-ahead).
        typed, ctx.pending_digits = ctx.pending_digits, []
        for digit in typed:
            if not done:
                digits, done = self._add(digits, digit)
        if prompt is not None and not digits and not done:
            first = yield from play_once(ctx, lambda pid: prompt.command(ctx, pid), True)
            if first is not None:
                digits, done = self._add(digits, first)
        while not done:
            timer = ctx.set_timer(self.inter_digit_timeout if digits else self.first_digit_timeout)
            while True:
                event = yield
                if isinstance(event, TimerFired) and event.timer_id == timer:
                    done = True
                    break
                if isinstance(event, DigitReceived):
                    ctx.cancel_timer(timer)
                    digits, done = self._add(digits, event.digit)
                    break
        ctx.wants_digits = False
        return digits
