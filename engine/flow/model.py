"""A loaded, validated flow: what the loader returns and the machine runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.flow.steps import StepModel


class FlowHeader(BaseModel):
    """A flow file's top level; each step is validated by its own type's model."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)
    """Initial variables; `session` is reserved for the session facts."""
    start: str
    """The first step."""
    steps: dict[str, dict[str, Any]] = Field(min_length=1)
    on_hangup: str | list[dict[str, Any]] | None = None
    """After a remote hang-up: a step name, or a list of steps run in order (non-media only)."""


@dataclass(frozen=True)
class Flow:
    id: str
    """The file stem: what a session names."""
    path: Path
    name: str
    description: str
    variables: Mapping[str, Any]
    start: str
    steps: Mapping[str, StepModel]
    """Named steps; inline on_hangup steps are named 'on_hangup[0]', 'on_hangup[1]'..."""
    on_hangup: str | None
    """The first step to run after a remote hang-up."""
    locations: Mapping[str, str]
    """Step name → 'file:line:column' where it is defined, for runtime errors."""

    @property
    def folder(self) -> Path:
        return self.path.parent
