"""`set`: assign variables; string values are templates, rendered in order."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from engine.flow import templates
from engine.flow.steps.base import RunContext, SequentialStep, StepOutcome, StepRun

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class SetStep(SequentialStep):
    type: Literal["set"]
    rendered = frozenset({"variables"})
    variables: dict[str, Any]
    """name → value; a string value may use {{ templates }}."""

    media: ClassVar[bool] = False

    @field_validator("variables")
    @classmethod
    def _check(cls, variables: dict[str, Any]) -> dict[str, Any]:
        for name, value in variables.items():
            if not name or name[0].isdigit() or not set(name) <= _NAME_CHARS:
                raise ValueError(f"{name!r} is not a variable name (letters, digits, _)")
            if name == "session":
                raise ValueError("'session' is read-only")
            templates.check_templates_in(value)
        return variables

    def summary(self) -> str:
        return ", ".join(self.variables)

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        for name, value in self.variables.items():
            ctx.variables[name] = ctx.render_value(value)
        return StepOutcome("ok", self.next)
