"""The flow's first prompt handed to the worker with the INVITE, and the tail hang-up.

Answer prompt: before dialling, a rehearsal of the flow's start tells which prompt it begins with;
the worker plays it the moment the call is answered (as playback ANSWER_PROMPT_ID), before the
controller even hears of the answer. The real run, at the answer, must then ask for that very
prompt, which it adopts under its own playback id; if it asks for anything else, the worker's
prompt is stopped.

Tail hang-up: when the flow says that only pauses lie between a prompt and its hang-up
(HangupAfterPlayback), the worker hangs up by itself that long after the prompt's end, and the
controller only follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.flow import commands as cmd
from engine.flow.first_prompt import FirstPrompt
from engine.ipc import messages as msg


@dataclass(frozen=True)
class PredictedPrompt:
    """The rehearsal's first prompt and the file that plays it."""

    prompt: FirstPrompt
    path: str


class PromptPlan:
    """The answer prompt's and the tail's bookkeeping for one call (pure)."""

    def __init__(self, predicted: PredictedPrompt | None) -> None:
        self._predicted = predicted
        self._alias: str | None = None
        """The flow's playback id for ANSWER_PROMPT_ID, once the run asked for that prompt."""
        self._tail_hints: dict[str, float] = {}
        """HangupAfterPlayback's seconds by playback id, until the prompt ends."""
        self.tail_armed = False
        """A hinted prompt ended by itself: the worker hangs up when the pauses are over."""

    def offer(self) -> msg.AnswerPrompt | None:
        """What the MakeCall carries."""
        if self._predicted is None:
            return None
        return msg.AnswerPrompt(
            path=self._predicted.path, hangup_after_seconds=self._predicted.prompt.hangup_after
        )

    def adopts(self, command: cmd.PlayAudio | cmd.Speak) -> bool:
        """True when the run's prompt is the one the worker already plays (same id, audio and
        tail): it then stands for ANSWER_PROMPT_ID."""
        if self._predicted is None:
            return False
        prompt = self._predicted.prompt
        if isinstance(command, cmd.PlayAudio):
            same = command.path == self._predicted.path
        else:
            same = command == prompt.command  # the same text, voice and rate: the same audio
        if not (
            same
            and command.playback_id == prompt.playback_id
            and self._tail_hints.get(command.playback_id) == prompt.hangup_after
        ):
            return False
        self._alias = command.playback_id
        return True

    def drop(self) -> bool:
        """The run has begun; True when it began otherwise than predicted, so the worker's
        prompt must be stopped."""
        if self._predicted is None:
            return False
        self._predicted = None
        return self._alias is None

    def flow_playback_id(self, worker_playback_id: str) -> str | None:
        """The flow's id for a playback the worker reports; None for an answer prompt the run
        did not adopt (it was stopped, and the run never knew it)."""
        if worker_playback_id == msg.ANSWER_PROMPT_ID:
            return self._alias
        return worker_playback_id

    def worker_playback_id(self, flow_playback_id: str) -> str:
        if flow_playback_id == self._alias:
            return msg.ANSWER_PROMPT_ID
        return flow_playback_id

    def hint(self, command: cmd.HangupAfterPlayback) -> None:
        self._tail_hints[command.playback_id] = command.seconds

    def hangup_after(self, playback_id: str) -> float | None:
        return self._tail_hints.get(playback_id)

    def playback_ended(self, playback_id: str, stopped: bool) -> None:
        if self._tail_hints.pop(playback_id, None) is not None:
            self.tail_armed = not stopped
