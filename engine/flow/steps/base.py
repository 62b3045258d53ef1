"""What every step type shares: the pydantic base, the run context, and the waiting helpers.

A step's `run(ctx)` either returns a StepOutcome at once (set, goto, branch...) or is a generator
that yields while it waits on the call and receives the next event through `send()`. Generators
keep each step's logic in order, top to bottom, while staying sans-IO: the machine drives them.
When the caller hangs up, the machine throws CallGone into the waiting generator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from engine.flow import templates
from engine.flow.commands import (
    CancelTimer,
    FlowCommand,
    HangupAfterPlayback,
    SetTimer,
    StopPlayback,
)
from engine.flow.events import DigitReceived, FlowEvent, PlaybackFinished, TimerFired


class CallGone(Exception):
    """Thrown into a waiting step when the caller hangs up (RemoteHangup).

    Outside the EngineError tree: control flow between the machine and a step, never a failure,
    and never seen outside engine.flow."""


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended and where the flow goes next."""

    result: str
    """'ok', 'no_input', 'no_match', 'failed', 'interrupted', 'hangup'..."""
    next: str | None
    """The next step in the same flow; None: the end of this flow (or of the subflow)."""
    detail: str = ""
    """Free text for the session log (e.g. the digits gathered)."""
    end_call: bool = False
    """The `hangup` step: end the whole run, even from inside a subflow."""
    hangup_reason: str = "flow ended"
    """The reason given in the final Hangup command."""
    subflow: str | None = None
    """Run this flow id first, then continue with `next`."""


@dataclass(frozen=True)
class Edge:
    """A possible transition, for the validator and the graph."""

    label: str
    """'next', 'no_input', 'on_failure', a branch condition..."""
    target: str | None
    """A step name; None: the end of the flow."""
    loc: tuple[str | int, ...]
    """Where the target is written inside the step, to report a missing step."""


StepRun = Generator[None, FlowEvent, StepOutcome]
"""A running step: yields while waiting, receives events, returns its StepOutcome."""


# Field types whose checks report problems at the field's line:column.


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
    return pattern


def _check_audio(path: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base_dir")
    if base is not None and not resolve_path(Path(base), path).is_file():
        raise ValueError(f"audio file not found: {resolve_path(Path(base), path)}")
    return path


def _check_flow_id(flow_id: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get("flow_ids")
    if known is not None and flow_id not in known:
        raise ValueError(f"unknown flow id {flow_id!r} (known: {', '.join(sorted(known))})")
    return flow_id


Template = Annotated[str, AfterValidator(templates.check_template)]
Regex = Annotated[str, AfterValidator(_check_regex)]
AudioFile = Annotated[str, Field(min_length=1), AfterValidator(_check_audio)]
FlowId = Annotated[str, AfterValidator(_check_flow_id)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
DtmfKey = Annotated[str, Field(pattern=r"^[0-9*#A-D]$")]


def resolve_path(base: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base / candidate


class StepFields(BaseModel):
    """A step's fields, or a part of one (a gather's prompt, a branch's condition): a string
    field is used as written unless it is named in `rendered`, and a template in it is refused
    where it is written, rather than reaching a call as braces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rendered: ClassVar[frozenset[str]] = frozenset()
    """The fields whose strings are templates, rendered when the step runs."""

    @field_validator("*")
    @classmethod
    def _templates_only_where_rendered(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if name in cls.rendered or name == "description" or not templates.contains_template(value):
            return value
        raise ValueError(
            f"'{name}' is used as written, not as a template"
            f" (templates work in: {', '.join(sorted(cls.rendered)) or 'no field of this step'})"
        )


class StepModel(StepFields):
    """Fields every step has. Subclasses set `type` to a Literal and implement run()."""

    type: str
    description: str = ""
    """Free text for people reading the flow."""

    media: ClassVar[bool] = True
    """Needs the caller's audio; False: may run in on_hangup after the caller has gone."""

    def edges(self) -> list[Edge]:
        return []

    def summary(self) -> str:
        """A short description for StepStarted.detail."""
        return ""

    def run(self, ctx: RunContext) -> StepOutcome | StepRun:
        raise NotImplementedError


class SequentialStep(StepModel):
    next: str | None = None
    """The step after this one; omitted: the end of the flow."""

    def edges(self) -> list[Edge]:
        return [Edge("next", self.next, ("next",))]


class FailableStep(SequentialStep):
    """A step that can fail through no fault of the flow (webhook, transfer, dial)."""

    on_failure: str | None = None
    """The step after a failure; omitted: `next`."""

    def edges(self) -> list[Edge]:
        edges = super().edges()
        if self.on_failure:
            edges.append(Edge("on_failure", self.on_failure, ("on_failure",)))
        return edges

    def ended(self, ok: bool, detail: str) -> StepOutcome:
        if ok:
            return StepOutcome("ok", self.next, detail=detail)
        return StepOutcome("failed", self.on_failure or self.next, detail=detail)


class RunContext:
    """The run's state a step may read and change, and where it sends commands."""

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables
        self.now = 0.0
        self.flow_dir = Path(".")
        self.step = ""
        self.hung_up = False
        self.wants_digits = False
        """True while a gather waits for digits (the simulator uses it to type)."""
        self.pending_digits: list[str] = []
        """Digits that interrupted a prompt, kept for the next gather."""
        self.timers: set[str] = set()
        self.commands: list[FlowCommand] = []
        self.fixed_tail: Callable[[str | None], float | None] = lambda _next_step: None
        """Given the step after a prompt: the seconds of pause from there to a hang-up, when
        nothing but pauses lies between (the run's flow decides; see FlowRun)."""
        self._serial = 0

    def emit(self, command: FlowCommand) -> None:
        self.commands.append(command)

    def take(self) -> list[FlowCommand]:
        commands, self.commands = self.commands, []
        return commands

    def new_id(self, kind: str) -> str:
        """Unique in the run, so that an event about an earlier prompt or timer is ignored."""
        self._serial += 1
        return f"{kind}-{self._serial}"

    def set_timer(self, seconds: float) -> str:
        timer_id = self.new_id("timer")
        self.timers.add(timer_id)
        self.emit(SetTimer(timer_id, self.now + seconds))
        return timer_id

    def cancel_timer(self, timer_id: str) -> None:
        if timer_id in self.timers:
            self.timers.discard(timer_id)
            self.emit(CancelTimer(timer_id))

    def render(self, text: str) -> str:
        return templates.render(text, self.variables)

    def render_value(self, value: Any) -> Any:
        return templates.render_value(value, self.variables)


def sleep(ctx: RunContext, seconds: float) -> Generator[None, FlowEvent, None]:
    timer_id = ctx.set_timer(seconds)
    while True:
        event = yield
        if isinstance(event, TimerFired) and event.timer_id == timer_id:
            return


def play_once(
    ctx: RunContext,
    command: Callable[[str], FlowCommand],
    interruptible: bool,
    hangup_after: float | None = None,
) -> Generator[None, FlowEvent, str | None]:
    """Play one prompt to its end; return the digit that interrupted it, if any.

    `hangup_after`: the call ends that many seconds after this prompt ends by itself."""
    playback_id = ctx.new_id("playback")
    if hangup_after is not None:
        ctx.emit(HangupAfterPlayback(playback_id, hangup_after))
    ctx.emit(command(playback_id))
    while True:
        event = yield
        if isinstance(event, PlaybackFinished) and event.playback_id == playback_id:
            return None
        if interruptible and isinstance(event, DigitReceived):
            ctx.emit(StopPlayback(playback_id))
            return event.digit


def play_repeated(
    ctx: RunContext,
    command: Callable[[str], FlowCommand],
    repeat: int,
    interruptible: bool,
    next_step: str | None,
) -> StepRun:
    """The body of play and say: a barge-in digit stops the repeats and waits for a gather."""
    for count in range(1, repeat + 1):
        last = count == repeat and not interruptible
        tail = ctx.fixed_tail(next_step) if last else None
        digit = yield from play_once(ctx, command, interruptible, tail)
        if digit is not None:
            ctx.pending_digits.append(digit)
            return StepOutcome("interrupted", next_step, detail=digit)
    return StepOutcome("ok", next_step)
