"""Every flow in the flows folder, by id (file stem), reloaded when a file changes."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.errors import FlowError
from engine.flow.loader import InvalidFlow, Problem, check_flow, flow_files
from engine.flow.model import Flow
from engine.flow.steps.subflow import SubflowStep

log = logging.getLogger(__name__)


class FlowRegistry:
    def __init__(self, flows_dir: Path) -> None:
        self.flows_dir = Path(flows_dir)
        self._flows: dict[str, Flow] = {}
        self._mtimes: dict[str, float] = {}
        self._step_type_use: dict[tuple[str, str], bool] = {}
        """uses_step_type's answers, until a flow is loaded, reloaded or removed."""

    def _files(self) -> dict[str, Path]:
        if not self.flows_dir.is_dir():
            raise FlowError(f"flows folder not found: {self.flows_dir}")
        return {path.stem: path for path in flow_files(self.flows_dir)}

    def load_all(self) -> None:
        """Load every file; InvalidFlow lists every problem of every invalid file."""
        files = self._files()
        flows: dict[str, Flow] = {}
        problems: list[Problem] = []
        for flow_id, path in files.items():
            mtime = path.stat().st_mtime
            flow, found = check_flow(path, files)
            problems.extend(found)
            if flow is not None:
                flows[flow_id] = flow
                self._mtimes[flow_id] = mtime
        if problems:
            raise InvalidFlow(problems)
        self._flows = flows
        self._step_type_use.clear()

    def ids(self) -> list[str]:
        return sorted(self._flows)

    def get(self, flow_id: str) -> Flow:
        """The flow named `flow_id`; FlowError when there is none (a session's bad input)."""
        try:
            return self._flows[flow_id]
        except KeyError:
            raise FlowError(f"no flow named {flow_id!r}") from None

    def uses_step_type(self, flow_id: str, step_type: str) -> bool:
        """Whether the flow (or a subflow it runs) has a step of this type, e.g. 'dial'."""
        key = (flow_id, step_type)
        known = self._step_type_use.get(key)
        if known is None:
            known = self._step_type_use[key] = self._find_step_type(flow_id, step_type)
        return known

    def _find_step_type(self, flow_id: str, step_type: str) -> bool:
        seen: set[str] = set()
        todo = [flow_id]
        while todo:
            current = todo.pop()
            if current in seen or current not in self._flows:
                continue
            seen.add(current)
            for step in self._flows[current].steps.values():
                if step.type == step_type:
                    return True
                if isinstance(step, SubflowStep):
                    todo.append(step.flow)
        return False

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self._flows

    def reload_changed(self) -> list[str]:
        """Re-read new and changed files; an invalid file keeps its previous version.

        Returns (and logs) the problems of the files that could not be reloaded. A deleted
        file's flow is dropped.
        """
        files = self._files()
        problems: list[str] = []
        for flow_id in set(self._flows) - set(files):
            log.info("flow %s removed", flow_id)
            del self._flows[flow_id]
            self._mtimes.pop(flow_id, None)
            self._step_type_use.clear()
        for flow_id, path in files.items():
            mtime = path.stat().st_mtime
            if self._mtimes.get(flow_id) == mtime:
                continue
            self._mtimes[flow_id] = mtime
            flow, found = check_flow(path, files)
            if flow is None:
                kept = "keeping the previous version" if flow_id in self._flows else "not loaded"
                for problem in found:
                    log.warning("flow %s invalid (%s): %s", flow_id, kept, problem)
                problems.extend(str(p) for p in found)
            else:
                log.info("flow %s (re)loaded", flow_id)
                self._flows[flow_id] = flow
                self._step_type_use.clear()
        return problems
