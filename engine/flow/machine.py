"""The flow interpreter, sans-IO: events and the time come in, commands go out.

    run = FlowRun(flow, facts, registry_lookup=registry.get)
    commands = run.start(now)
    ...                                   # execute them; then for each event on the call:
    commands = run.handle(event, now)     # until run.finished

Timers are absolute deadlines (SetTimer) the caller turns into TimerFired events. Every id a run
hands out (playback, timer, recording, webhook, leg) is unique within the run, so an event about
something the flow has moved past is ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from engine.errors import FlowError, FlowRuntimeError
from engine.flow.commands import (
    CancelTimer,
    FlowCommand,
    FlowFinished,
    Hangup,
    StepFinished,
    StepStarted,
)
from engine.flow.events import FlowEvent, RemoteHangup, SessionFacts, TimerFired
from engine.flow.model import Flow
from engine.flow.steps.base import CallGone, RunContext, StepModel, StepOutcome, StepRun
from engine.flow.steps.hangup import HangupStep
from engine.flow.steps.pause import PauseStep

MAX_SUBFLOW_DEPTH = 16
_FACT_FIELDS = tuple(f.name for f in fields(SessionFacts) if f.name != "extra")
"""`session.*` variables from SessionFacts' own fields; they win over `extra`'s."""


@dataclass
class _Frame:
    flow: Flow
    return_to: str | None
    """The calling flow's step after the subflow step."""


class FlowRun:
    """One run of a flow on one answered call."""

    def __init__(
        self,
        flow: Flow,
        facts: SessionFacts,
        registry_lookup: Callable[[str], Flow] | None = None,
        max_steps_without_wait: int = 1000,
    ) -> None:
        self.flow = flow
        self.finished = False
        self._lookup = registry_lookup
        self._max_steps = max_steps_without_wait
        # Built field by field: dataclasses.asdict deep-copies every field, and a FlowRun is
        # made twice a call (the rehearsal at dialling, the run at the answer).
        variables = copy.deepcopy(dict(flow.variables)) if flow.variables else {}
        session = copy.deepcopy(facts.extra) if facts.extra else {}
        for name in _FACT_FIELDS:
            session[name] = getattr(facts, name)
        variables["session"] = session
        self._ctx = RunContext(variables)
        self._ctx.fixed_tail = self._fixed_tail
        self._frames = [_Frame(flow, None)]
        self._running: StepRun | None = None
        self._step_name = ""
        self._step: StepModel | None = None
        self._after_hangup = False
        self._started = False

    @property
    def variables(self) -> dict[str, Any]:
        return self._ctx.variables

    @property
    def wants_digits(self) -> bool:
        """A gather is waiting for digits (the simulator types then)."""
        return self._ctx.wants_digits and not self.finished

    def start(self, now: float) -> list[FlowCommand]:
        """Begin at the flow's start step; call once, when the call is answered."""
        if self._started:
            raise RuntimeError("FlowRun.start called twice")
        self._started = True
        self._ctx.now = now
        self._run_from(self.flow.start)
        return self._ctx.take()

    def handle(self, event: FlowEvent, now: float) -> list[FlowCommand]:
        """Feed one event; returns what to do. Events after the end are ignored."""
        if self.finished or not self._started:
            return []
        ctx = self._ctx
        ctx.now = now
        if isinstance(event, TimerFired):
            if event.timer_id not in ctx.timers:
                return []  # cancelled or from a finished step
            ctx.timers.discard(event.timer_id)
        if isinstance(event, RemoteHangup):
            if ctx.hung_up:
                return []
            ctx.hung_up = True
            self._resume(None)
        elif self._running is not None:
            self._resume(event)
        return ctx.take()

    # The step loop.

    def _resume(self, event: FlowEvent | None) -> None:
        """Send an event (None: the hang-up) into the waiting step and go on when it ends."""
        running = self._running
        if running is None:
            # Between steps only a hang-up can arrive (e.g. before start); end after it.
            self._go_on(StepOutcome("hangup", None))
            return
        try:
            if event is None:
                running.throw(CallGone())
            else:
                running.send(event)
            return
        except StopIteration as stop:
            outcome: StepOutcome = stop.value
        except CallGone:
            outcome = StepOutcome("hangup", None)
        except FlowRuntimeError as exc:
            self._fail(exc)
            return
        self._go_on(outcome)

    def _go_on(self, outcome: StepOutcome) -> None:
        following = self._after(outcome)
        if not self.finished:
            self._run_from(following)

    def _run_from(self, name: str | None) -> None:
        """Start steps until one waits on the call or the flow ends."""
        count = 0
        while not self.finished:
            if name is None:
                if len(self._frames) == 1:
                    self._end("flow ended")
                    return
                name = self._frames.pop().return_to
                continue
            count += 1
            if count > self._max_steps:
                self._fail(
                    FlowRuntimeError(
                        f"{count - 1} steps ran without waiting on the call (a goto loop?); "
                        f"stopped at step {name!r}"
                    )
                )
                return
            outcome = self._begin(name)
            if outcome is None:
                return
            name = self._after(outcome)

    def _begin(self, name: str) -> StepOutcome | None:
        """Start a step; its StepOutcome when it ended at once, None when it waits."""
        frame = self._frames[-1]
        step = frame.flow.steps[name]
        ctx = self._ctx
        self._step, self._step_name = step, name
        ctx.step, ctx.flow_dir = self._label(name), frame.flow.folder
        if self._after_hangup and step.media:
            ctx.emit(StepFinished(ctx.step, step.type, "skipped", "the caller has hung up"))
            return StepOutcome("skipped", getattr(step, "next", None))
        ctx.emit(StepStarted(ctx.step, step.type, step.summary()))
        try:
            result = step.run(ctx)
            if isinstance(result, StepOutcome):
                return result
            next(result)
        except StopIteration as stop:
            return stop.value
        except FlowRuntimeError as exc:
            self._fail(exc)
            return None
        self._running = result
        return None

    def _after(self, outcome: StepOutcome) -> str | None:
        """Log the step's end, tidy up, and pick the next step (None: end of the frame)."""
        ctx = self._ctx
        step, self._step, self._running = self._step, None, None
        ctx.wants_digits = False
        for timer_id in sorted(ctx.timers):
            ctx.emit(CancelTimer(timer_id))
        ctx.timers.clear()
        if step is not None and outcome.result != "skipped":
            ctx.emit(StepFinished(ctx.step, step.type, outcome.result, outcome.detail))
        if ctx.hung_up and not self._after_hangup:
            self._after_hangup = True
            self._frames = self._frames[:1]
            ctx.pending_digits.clear()
            if self.flow.on_hangup is None:
                self._end("caller hung up")
            return self.flow.on_hangup
        if outcome.end_call:
            self._end(outcome.hangup_reason)
            return None
        if outcome.subflow is not None:
            return self._enter_subflow(outcome.subflow, outcome.next)
        return outcome.next

    def _enter_subflow(self, flow_id: str, return_to: str | None) -> str | None:
        if self._lookup is None:
            self._fail(FlowRuntimeError(f"subflow {flow_id!r}: no flow registry"))
            return None
        if len(self._frames) >= MAX_SUBFLOW_DEPTH:
            self._fail(FlowRuntimeError(f"subflow {flow_id!r}: nested too deep (a cycle?)"))
            return None
        try:
            flow = self._lookup(flow_id)
        except (KeyError, FlowError) as exc:
            message = exc.message if isinstance(exc, FlowError) else f"no flow named {flow_id!r}"
            self._fail(FlowRuntimeError(f"subflow: {message}"))
            return None
        self._frames.append(_Frame(flow, return_to))
        return flow.start

    def _fixed_tail(self, name: str | None) -> float | None:
        """From step `name` of the current flow: the seconds of pause before the call ends (a
        hangup step, or the end of the main flow), when only pauses lie between; None when
        anything else may happen first (another step, a return from a subflow)."""
        steps = self._frames[-1].flow.steps
        seconds = 0.0
        seen: set[str] = set()
        while name is not None and name not in seen:
            seen.add(name)
            step = steps.get(name)
            if isinstance(step, HangupStep):
                return seconds
            if not isinstance(step, PauseStep):
                return None
            seconds += step.seconds
            name = step.next
        return seconds if name is None and len(self._frames) == 1 else None

    def _label(self, name: str) -> str:
        """Step names in the log: 'ask' in the main flow, 'survey/ask' inside a subflow."""
        return name if len(self._frames) == 1 else f"{self._frames[-1].flow.id}/{name}"

    # The end.

    def _end(self, reason: str) -> None:
        if self.finished:
            return
        self.finished = True
        ctx = self._ctx
        if ctx.hung_up:
            ctx.emit(FlowFinished("hangup", variables=self._public_variables()))
        else:
            ctx.emit(FlowFinished("completed", variables=self._public_variables()))
            ctx.emit(Hangup(reason))

    def _fail(self, exc: FlowRuntimeError) -> None:
        ctx = self._ctx
        frame = self._frames[-1]
        where = frame.flow.locations.get(self._step_name, str(frame.flow.path))
        message = f"{where}: step {self._step_name!r}: {exc.message}"
        if self._running is not None:
            self._running.close()
            self._running = None
        for timer_id in sorted(ctx.timers):
            ctx.emit(CancelTimer(timer_id))
        ctx.timers.clear()
        if self._step is not None:
            ctx.emit(StepFinished(ctx.step, self._step.type, "error", exc.message))
        self.finished = True
        ctx.emit(FlowFinished("error", error=message, variables=self._public_variables()))
        if not ctx.hung_up:
            ctx.emit(Hangup("flow error"))

    def _public_variables(self) -> dict[str, Any]:
        return {k: v for k, v in self._ctx.variables.items() if k != "session"}
