"""Flow file → Flow, or every problem found, each as 'file:line:column: message'.

Checks, in order: YAML syntax; the top level and each step against its pydantic model (unknown
keys, wrong types, templates that do not parse, bad regular expressions, missing audio files,
unknown subflow ids); then the graph (targets that name no step, unreachable steps, media steps
after a hang-up).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from engine.errors import FlowError
from engine.flow.model import Flow, FlowHeader
from engine.flow.steps import STEP_TYPES, StepModel
from engine.flow.yamlnodes import Located, Path_, compose, mark

FLOW_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    location: str
    """'file:line:column'."""
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class InvalidFlow(FlowError):
    """One or more flow files are invalid; `problems` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("invalid flow:\n" + "\n".join(str(p) for p in problems))
        self.problems = problems


def flow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in FLOW_SUFFIXES and p.is_file())


def sibling_ids(path: Path) -> set[str]:
    """The flow ids a flow file may name as subflows: the files in its folder."""
    return {p.stem for p in flow_files(path.parent)} if path.parent.is_dir() else set()


def load_flow(path: Path, flow_ids: Iterable[str] | None = None) -> Flow:
    """Load and validate one file; InvalidFlow lists every problem."""
    flow, problems = check_flow(path, flow_ids)
    if flow is None:
        raise InvalidFlow(problems)
    return flow


def check_flow(
    path: Path, flow_ids: Iterable[str] | None = None
) -> tuple[Flow | None, list[Problem]]:
    """Load one file: the Flow when it is valid, and the problems found."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(f"{source}:1:1", f"cannot read: {exc}")]
    try:
        located = compose(text, source)
    except yaml.YAMLError as exc:
        return None, [Problem(mark(source, getattr(exc, "problem_mark", None)), _yaml_message(exc))]
    if located is None or not isinstance(located.data, dict):
        return None, [Problem(f"{source}:1:1", "a flow file is a mapping (name, start, steps...)")]
    context = {"base_dir": path.parent, "flow_ids": None if flow_ids is None else set(flow_ids)}
    return _Checker(path, located, context).run()


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    return f"not valid YAML: {problem or exc}"


class _Checker:
    def __init__(self, path: Path, located: Located, context: dict[str, Any]) -> None:
        self.path = path
        self.located = located
        self.context = context
        self.problems: list[Problem] = []

    def add(self, location: str, message: str) -> None:
        self.problems.append(Problem(location, message))

    def run(self) -> tuple[Flow | None, list[Problem]]:
        for location, key in self.located.duplicates:
            self.add(location, f"duplicate key {key!r}")
        header = self._validate(FlowHeader, self.located.data, ())
        if header is None:
            return None, self.problems
        steps: dict[str, StepModel] = {}
        locations: dict[str, str] = {}
        for name, raw in header.steps.items():
            step = self._step(raw, ("steps", name))
            locations[name] = self.located.key_where(("steps", name))
            if step is not None:
                steps[name] = step
        on_hangup = self._on_hangup(header, steps, locations)
        if not self.problems:
            self._check_graph(header, steps, on_hangup)
        if self.problems:
            return None, self.problems
        flow = Flow(
            id=self.path.stem,
            path=self.path.resolve(),
            name=header.name,
            description=header.description,
            variables=header.variables,
            start=header.start,
            steps=steps,
            on_hangup=on_hangup,
            locations=locations,
        )
        return flow, []

    def _on_hangup(
        self, header: FlowHeader, steps: dict[str, StepModel], locations: dict[str, str]
    ) -> str | None:
        if not isinstance(header.on_hangup, list):
            return header.on_hangup
        names = [f"on_hangup[{i}]" for i in range(len(header.on_hangup))]
        for index, raw in enumerate(header.on_hangup):
            step = self._step(raw, ("on_hangup", index))
            locations[names[index]] = self.located.where(("on_hangup", index))
            if step is None:
                continue
            following = names[index + 1] if index + 1 < len(names) else None
            if "next" in type(step).model_fields and "next" not in raw and following:
                step = step.model_copy(update={"next": following})
            steps[names[index]] = step
        return names[0] if names else None

    def _step(self, raw: dict[str, Any], path: Path_) -> StepModel | None:
        kind = raw.get("type")
        if kind is None:
            self.add(self.located.where(path), "missing required key 'type'")
            return None
        model = STEP_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            known = ", ".join(STEP_TYPES)
            self.add(self.located.where((*path, "type")), f"unknown step type {kind!r} ({known})")
            return None
        step = self._validate(model, raw, path)
        return step if isinstance(step, StepModel) else None

    def _validate(self, model: type[Any], data: Any, path: Path_) -> Any:
        try:
            return model.model_validate(data, context=self.context)
        except ValidationError as exc:
            for error in exc.errors():
                self._report(model, error, path)
            return None

    def _report(self, model: type[BaseModel], error: Any, path: Path_) -> None:
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        full = (*path, *loc)
        field = ".".join(str(part) for part in loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            allowed = f" (allowed: {', '.join(model.model_fields)})" if len(loc) == 1 else ""
            self.add(self.located.key_where(full), f"unknown key {loc[-1]!r}{allowed}")
        elif kind == "missing":
            self.add(self.located.where(full[:-1]), f"missing required key {loc[-1]!r}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            self.add(self.located.where(full), f"{field}: {message}" if field else message)

    def _check_graph(
        self, header: FlowHeader, steps: dict[str, StepModel], on_hangup: str | None
    ) -> None:
        if header.start not in steps:
            self.add(self.located.where(("start",)), self._no_step(header.start, steps))
        if isinstance(header.on_hangup, str) and header.on_hangup not in steps:
            self.add(self.located.where(("on_hangup",)), self._no_step(header.on_hangup, steps))
        for name, step in steps.items():
            base = self._step_path(name)
            for edge in step.edges():
                if edge.target is not None and edge.target not in steps:
                    where = self.located.where((*base, *edge.loc))
                    self.add(where, f"{edge.loc[0]}: {self._no_step(edge.target, steps)}")
        if self.problems:
            return
        from_start = reachable(steps, [header.start])
        from_hangup = reachable(steps, [on_hangup] if on_hangup else [])
        for name in steps:
            if name not in from_start and name not in from_hangup:
                where = self.located.key_where(self._step_path(name))
                self.add(where, f"step {name!r} is unreachable from start and on_hangup")
        for name in sorted(from_hangup, key=list(steps).index):
            if steps[name].media:
                where = self.located.where((*self._step_path(name), "type"))
                self.add(
                    where,
                    f"step {name!r} ({steps[name].type}) needs the call's audio, but on_hangup "
                    "runs after the caller has gone (allowed: set, branch, goto, webhook, "
                    "subflow, hangup)",
                )

    @staticmethod
    def _step_path(name: str) -> Path_:
        if name.startswith("on_hangup["):
            return ("on_hangup", int(name[len("on_hangup[") : -1]))
        return ("steps", name)

    @staticmethod
    def _no_step(target: str, steps: dict[str, StepModel]) -> str:
        close = difflib.get_close_matches(target, list(steps), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"no step named {target!r}{hint}"


def reachable(steps: dict[str, StepModel], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [root for root in roots if root in steps]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(e.target for e in steps[name].edges() if e.target in steps and e.target)
    return seen
