"""`branch`: the first condition over variables that holds picks the next step."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from engine.errors import FlowRuntimeError
from engine.flow.steps.base import (
    Edge,
    Regex,
    RunContext,
    StepFields,
    StepModel,
    StepOutcome,
    StepRun,
)

_OPERATORS = (
    "equals",
    "not_equals",
    "less_than",
    "less_or_equal",
    "greater_than",
    "greater_or_equal",
    "matches",
    "one_of",
)


class Condition(StepFields):
    rendered = frozenset(_OPERATORS)
    """The value compared with is rendered; the variable and the target are names."""

    variable: str
    """A variable name; dots go into mappings: `webhook.status`, `session.destination`."""
    equals: Any = None
    not_equals: Any = None
    less_than: float | str | None = None
    less_or_equal: float | str | None = None
    greater_than: float | str | None = None
    greater_or_equal: float | str | None = None
    matches: Regex | None = None
    """A regular expression the whole value must match."""
    one_of: list[Any] | None = None
    goto: str
    """The step to go to when the condition holds."""

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [name for name in _OPERATORS if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(f"a condition needs exactly one of: {', '.join(_OPERATORS)}")
        return self

    @property
    def operator(self) -> str:
        return next(name for name in _OPERATORS if name in self.model_fields_set)

    def label(self) -> str:
        return f"{self.variable} {self.operator} {getattr(self, self.operator)!r}"

    def holds(self, ctx: RunContext) -> bool:
        actual = lookup(ctx.variables, self.variable)
        expected = ctx.render_value(getattr(self, self.operator))
        return _TESTS[self.operator](actual, expected)


def lookup(variables: dict[str, Any], dotted: str) -> Any:
    value: Any = variables
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise FlowRuntimeError(f"no variable {dotted!r}")
        value = value[part]
    return value


def _normal(value: Any) -> Any:
    """Compare '1' (digits) and 1 (YAML) as equal; booleans as 'true'/'false'."""
    if isinstance(value, bool):
        return str(value).lower()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value).lower() if isinstance(value, str) else value


def _ordered(actual: Any, expected: Any) -> tuple[Any, Any]:
    a, b = _normal(actual), _normal(expected)
    if isinstance(a, float) != isinstance(b, float):
        return str(actual), str(expected)
    return a, b


_TESTS = {
    "equals": lambda a, b: _normal(a) == _normal(b),
    "not_equals": lambda a, b: _normal(a) != _normal(b),
    "less_than": lambda a, b: (lambda x, y: x < y)(*_ordered(a, b)),
    "less_or_equal": lambda a, b: (lambda x, y: x <= y)(*_ordered(a, b)),
    "greater_than": lambda a, b: (lambda x, y: x > y)(*_ordered(a, b)),
    "greater_or_equal": lambda a, b: (lambda x, y: x >= y)(*_ordered(a, b)),
    "matches": lambda a, b: re.fullmatch(str(b), str(a)) is not None,
    "one_of": lambda a, b: _normal(a) in [_normal(item) for item in b],
}


class BranchStep(StepModel):
    type: Literal["branch"]
    conditions: list[Condition] = Field(min_length=1)
    default: str | None = None
    """When no condition holds; omitted: the end of the flow."""

    media: ClassVar[bool] = False

    def edges(self) -> list[Edge]:
        edges = [
            Edge(c.label(), c.goto, ("conditions", i, "goto"))
            for i, c in enumerate(self.conditions)
        ]
        return [*edges, Edge("default", self.default, ("default",))]

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        for condition in self.conditions:
            if condition.holds(ctx):
                return StepOutcome("ok", condition.goto, detail=condition.label())
        return StepOutcome("ok", self.default, detail="default")
