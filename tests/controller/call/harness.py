"""A call core driven the way its asyncio driver drives it, without a loop: the test plays the
worker, the clock and the timers, and reads what the core asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, assert_never

from engine.config import TrunkConfig
from engine.controller.call.actions import (
    Action,
    Finished,
    PlaceLeg,
    Record,
    RecordOutcome,
    RecordState,
    ReleaseSlots,
    RenderSpeech,
    RequestWebhook,
    Send,
    StartFlow,
    StartTimer,
    StopTimer,
    TimerKey,
    TimerKind,
)
from engine.controller.call.answer_prompt import PredictedPrompt
from engine.controller.call.core import CallCore, CallMessage
from engine.controller.call.spec import CallSpec
from engine.errors import FlowError
from engine.events import model as em
from engine.flow import commands as cmd
from engine.flow import events as ev
from engine.flow.first_prompt import first_prompt
from engine.flow.machine import FlowRun
from engine.flow.model import Flow
from engine.ipc import messages as msg
from tests.flow.helpers import FACTS

M = TypeVar("M")
E = TypeVar("E")

SESSION = "s-1"
MAIN = f"{SESSION}.a"
TRUNK = TrunkConfig(
    name="sipp",
    host="127.0.0.1",
    port=5070,
    ring_timeout_seconds=30,
    max_call_duration_seconds=600,
)
START = 1000.0


@dataclass
class Harness:
    flow: Flow | None = None
    """The flow StartFlow runs; None: StartFlow finds no flow (flow_unavailable)."""
    legs_needed: int = 1
    speech_cache: dict[str, str] | None = None
    """Rendered prompts by text; None: every text renders at once to /tts/<text>.wav."""
    now: float = START
    core: CallCore = field(init=False)
    actions: list[Action] = field(default_factory=list)
    timers: dict[TimerKey, float] = field(default_factory=dict)
    rendering: list[cmd.Speak] = field(default_factory=list)
    """Speech not in the cache: the test answers with `rendered`."""
    webhooks: list[cmd.CallWebhook] = field(default_factory=list)
    finished: int = 0

    def __post_init__(self) -> None:
        self.core = CallCore(
            CallSpec(
                session_id=SESSION,
                flow_id="test",
                destination="+18144043093",
                caller_id="+12025550143",
                trunk=TRUNK,
                legs_needed=self.legs_needed,
                recordings_dir=Path("/rec"),
                created_at=START - 0.01,
                requested_at=START - 0.01,
            )
        )

    # ------------------------------------------------------------------ inputs

    def place(self, predict: bool = False) -> list[Action]:
        predicted = self._predict() if predict else None
        return self._carry_out(self.core.place(7, predicted, self.now))

    def worker(self, message: CallMessage) -> list[Action]:
        return self._carry_out(self.core.worker_message(message, self.now))

    def fire(self, kind: TimerKind, timer_id: str = "") -> list[Action]:
        key = TimerKey(kind, timer_id)
        assert key in self.timers, f"{key} is not running: {self.timers}"
        self.now = max(self.now, self.timers.pop(key))
        return self._carry_out(self.core.timer_fired(key, self.now))

    def fire_flow_timer(self) -> list[Action]:
        """The earliest flow timer, at its deadline."""
        key = min((k for k in self.timers if k.kind is TimerKind.FLOW), key=self.timers.__getitem__)
        return self.fire(TimerKind.FLOW, key.id)

    def end(self) -> list[Action]:
        return self._carry_out(self.core.end(self.now))

    def lost(self) -> list[Action]:
        return self._carry_out(self.core.worker_lost(self.now))

    def rendered(self, playback_id: str, path: str | None, error: str | None = None) -> None:
        self._carry_out(self.core.speech_ready(playback_id, path, error, self.now))

    def webhook_answered(self, request_id: str, status: int = 200) -> list[Action]:
        event = ev.WebhookCompleted(request_id, status, {})
        return self._carry_out(self.core.flow_event(event, self.now))

    # ------------------------------------------------------------------ the worker's side

    def dial_and_answer(self, predict: bool = False) -> None:
        self.place(predict)
        self.worker(msg.InviteSent(call_id=MAIN, received_at=self.now, sent_at=self.now))
        self.worker(
            msg.CallProgress(call_id=MAIN, sip_code=180, reason="Ringing", progress_at=self.now)
        )
        self.now += 1
        self.worker(msg.CallAnswered(call_id=MAIN, answered_at=self.now))

    def ringing(self, sip_code: int = 180) -> list[Action]:
        return self.worker(
            msg.CallProgress(
                call_id=MAIN, sip_code=sip_code, reason="Ringing", progress_at=self.now
            )
        )

    def ended(
        self,
        sip_code: int = 200,
        reason: str = "BYE",
        *,
        remote: bool = True,
        leg: str = MAIN,
        answered: bool | None = None,
    ) -> list[Action]:
        """The worker's CallEnded; `answered` defaults to whether the main leg was."""
        if answered is None:
            answered = self.core.answered
        return self.worker(
            msg.CallEnded(
                call_id=leg,
                sip_code=sip_code,
                reason=reason,
                answered=answered,
                remote_hangup=remote,
                ended_at=self.now,
            )
        )

    def playback_done(self, playback_id: str, stopped: bool = False) -> list[Action]:
        return self.worker(msg.PlaybackDone(call_id=MAIN, playback_id=playback_id, stopped=stopped))

    # ------------------------------------------------------------------ what it asked for

    def sent(self, kind: type[M]) -> list[M]:
        """What went to the worker, of one kind."""
        messages = (_to_worker(action) for action in self.actions)
        return [m for m in messages if isinstance(m, kind)]

    def last_sent(self, kind: type[M]) -> M:
        found = self.sent(kind)
        assert found, f"no {kind.__name__} sent: {self.actions}"
        return found[-1]

    def log(self) -> list[str]:
        return [a for a in self.actions if isinstance(a, str)]

    def events(self, kind: type[E]) -> list[E]:
        return [a for a in self.actions if isinstance(a, kind)]

    def kinds(self) -> list[str]:
        return [a.kind.value for a in self.actions if isinstance(a, em.EventData)]

    def outcome(self) -> RecordOutcome:
        found = [a for a in self.actions if isinstance(a, RecordOutcome)]
        assert len(found) == 1, f"{len(found)} outcomes recorded: {self.actions}"
        assert self.finished == 1
        return found[0]

    def flow_timer_ids(self) -> list[str]:
        return [k.id for k in self.timers if k.kind is TimerKind.FLOW]

    # ------------------------------------------------------------------ the driver's part

    def _predict(self) -> PredictedPrompt | None:
        assert self.flow is not None
        prompt = first_prompt(FlowRun(self.flow, FACTS).start(self.now))
        if prompt is None:
            return None
        command = prompt.command
        if isinstance(command, cmd.PlayAudio):
            return PredictedPrompt(prompt, command.path)
        return PredictedPrompt(prompt, self._speech_path(command.text) or "")

    def _speech_path(self, text: str) -> str | None:
        if self.speech_cache is None:
            return f"/tts/{text}.wav"
        return self.speech_cache.get(text)

    def _carry_out(self, actions: list[Action]) -> list[Action]:
        done: list[Action] = []
        for action in actions:
            self.actions.append(action)
            done.append(action)
            match action:
                case StartTimer():
                    self.timers[action.key] = action.deadline
                case StopTimer():
                    self.timers.pop(action.key, None)
                case StartFlow():
                    if self.flow is None:
                        error = FlowError("no flow named 'test'")
                        done += self._carry_out(self.core.flow_unavailable(error, self.now))
                    else:
                        run = FlowRun(self.flow, FACTS)
                        done += self._carry_out(self.core.flow_started(run, self.now))
                case RenderSpeech():
                    path = self._speech_path(action.command.text)
                    if path is None:
                        self.rendering.append(action.command)
                    else:
                        pid = action.command.playback_id
                        done += self._carry_out(self.core.speech_ready(pid, path, None, self.now))
                case RequestWebhook():
                    self.webhooks.append(action.command)
                case Finished():
                    self.finished += 1
                    self.timers.clear()
                case (
                    Send()
                    | PlaceLeg()
                    | Record()
                    | str()
                    | em.EventData()
                    | RecordState()
                    | RecordOutcome()
                    | ReleaseSlots()
                ):
                    pass
                case _:
                    assert_never(action)
        return done


def _to_worker(action: Action) -> msg.ToWorker | None:
    match action:
        case Send():
            return action.message
        case PlaceLeg():
            return action.make_call
        case Record():
            return action.start
        case _:
            return None
