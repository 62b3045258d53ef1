"""The prompt a run begins with, read off its first commands (sans-IO).

A run is deterministic: a second run of the same flow on the same session starts with the same
commands (unless a template reads something that changes, such as `session.answered_at`). The
engine starts one before the call is answered, to hand the worker the prompt it may play the
moment the call is answered; the real run, at the answer, must then ask for that very prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.flow.commands import (
    FlowCommand,
    HangupAfterPlayback,
    PlayAudio,
    Speak,
    StepStarted,
)

_SILENT = (StepStarted,)
"""Commands that do nothing to the call: a prompt after them still begins the call's audio."""


@dataclass(frozen=True)
class FirstPrompt:
    command: PlayAudio | Speak
    hangup_after: float | None
    """HangupAfterPlayback's seconds for this prompt, if the run sent one."""

    @property
    def playback_id(self) -> str:
        return self.command.playback_id


def first_prompt(commands: Iterable[FlowCommand]) -> FirstPrompt | None:
    """The prompt these commands start before doing anything else to the call, or None."""
    tails: dict[str, float] = {}
    for command in commands:
        if isinstance(command, _SILENT):
            continue
        if isinstance(command, HangupAfterPlayback):
            tails[command.playback_id] = command.seconds
            continue
        if isinstance(command, (PlayAudio, Speak)):
            return FirstPrompt(command, tails.get(command.playback_id))
        return None
    return None
