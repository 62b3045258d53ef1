"""Building flows from YAML text and driving a FlowRun in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml

from engine.flow import commands as c
from engine.flow.events import SessionFacts
from engine.flow.loader import load_flow
from engine.flow.machine import FlowRun
from engine.flow.model import Flow

T = TypeVar("T")

FACTS = SessionFacts(
    id="s-1",
    flow="test",
    destination="+12025550100",
    caller_id="+12025550143",
    answered_at="2024-01-01T00:00:00Z",
)


def flow_from(tmp_path: Path, steps: dict[str, Any], name: str = "test", **top: Any) -> Flow:
    """A flow file with these steps; `start` defaults to the first step."""
    document = {"name": name, "start": next(iter(steps)), "steps": steps, **top}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_flow(path, {p.stem for p in tmp_path.glob("*.yaml")})


def one_step(tmp_path: Path, **step: Any) -> Flow:
    return flow_from(tmp_path, {"only": step})


def start(flow: Flow, **kwargs: Any) -> tuple[FlowRun, list[c.FlowCommand]]:
    run = FlowRun(flow, FACTS, **kwargs)
    return run, run.start(0.0)


def of(commands: list[c.FlowCommand], kind: type[T]) -> list[T]:
    return [command for command in commands if isinstance(command, kind)]


def first(commands: list[c.FlowCommand], kind: type[T]) -> T:
    found = of(commands, kind)
    assert found, f"no {kind.__name__} in {commands}"
    return found[0]


def results(commands: list[c.FlowCommand]) -> list[tuple[str, str]]:
    return [(f.step, f.result) for f in of(commands, c.StepFinished)]
