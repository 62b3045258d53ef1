"""The thin asyncio layer around a call's core: it feeds the core what happens (worker messages,
timers, the answers to its own requests) with the time, and carries out the actions it returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, assert_never

import httpx

from engine.clock import Clock
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
)
from engine.controller.call.answer_prompt import PredictedPrompt
from engine.controller.call.core import CallCore, CallMessage, FlowRunLike
from engine.controller.call.phase import CallProtocolError
from engine.controller.call.spec import CallSpec
from engine.controller.pool import WorkerHandle
from engine.controller.tts import TtsCache
from engine.errors import EngineError
from engine.events.model import EventData, SessionEventData
from engine.flow import commands as cmd
from engine.flow import events as ev
from engine.flow.first_prompt import first_prompt
from engine.ipc import messages as msg
from engine.sessions.model import CallState, Session

log = logging.getLogger(__name__)


_LEAVE_THE_LOG_ALONE = (EventData, Send, StartTimer, StopTimer)
"""Actions that neither read the session log nor add to it."""


class CallHost(Protocol):
    """What a call needs from the engine around it."""

    clock: Clock
    tts: TtsCache
    http: httpx.AsyncClient

    @property
    def answer_prompts(self) -> bool:
        """Hand the worker the flow's first prompt with the INVITE (MakeCall.answer_prompt)."""
        ...

    def log_lines(self, session: Session, messages: list[str]) -> None: ...

    def save_session(self, session: Session) -> None: ...

    def emit(self, session: Session, data: SessionEventData) -> None: ...

    def new_flow_run(self, session: Session) -> FlowRunLike: ...

    def release_reservation(self, worker: WorkerHandle, slots: int) -> None: ...

    def bind_leg(self, worker: WorkerHandle, leg_id: str, call: CallDriver) -> None: ...

    def call_finished(self, call: CallDriver) -> None: ...


class CallDriver:
    """One session's call on the event loop, from its queue to its final state."""

    def __init__(
        self,
        host: CallHost,
        session: Session,
        trunk: TrunkConfig,
        *,
        legs_needed: int,
        requested_at: float,
        created_at: float,
        recordings_dir: Path,
    ) -> None:
        self.host = host
        self.session = session
        self.trunk = trunk
        self.legs_needed = legs_needed
        self.core = CallCore(
            CallSpec(
                session_id=session.id,
                flow_id=session.flow_id,
                destination=session.destination,
                caller_id=session.from_address,
                trunk=trunk,
                legs_needed=legs_needed,
                recordings_dir=recordings_dir,
                created_at=created_at,
                requested_at=requested_at,
            )
        )
        self.worker: WorkerHandle | None = None
        self.done = asyncio.Event()
        self._clock = host.clock
        self._loop = asyncio.get_running_loop()
        self._timers: dict[TimerKey, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ inputs

    def place(self, worker: WorkerHandle) -> None:
        """Send the INVITE through `worker`, on which `legs_needed` slots are reserved."""
        self.worker = worker
        predicted = self._predict_answer_prompt()
        self._feed(lambda now: self.core.place(worker.worker_id, predicted, now))

    def fail_before_placing(self, reason: str) -> None:
        self._feed(lambda now: self.core.fail_before_placing(reason, now))

    def cancel_queued(self) -> None:
        self._feed(lambda now: self.core.cancel_queued(now))

    def end(self) -> None:
        """DELETE /sessions/{id}: cancel before the answer, hang up after it."""
        self._feed(lambda now: self.core.end(now))

    def on_worker_message(self, message: CallMessage) -> None:
        self._feed(lambda now: self.core.worker_message(message, now))

    def on_worker_lost(self) -> None:
        self._feed(lambda now: self.core.worker_lost(now))

    # ------------------------------------------------------------------ the loop

    def _carry_out(self, actions: list[Action]) -> None:
        # Log lines are written together, before anything that may read or extend the log (a
        # save, the flow, the end), so that the log keeps their order.
        lines: list[str] = []
        for action in actions:
            if isinstance(action, str):
                lines.append(action)
                continue
            if lines and not isinstance(action, _LEAVE_THE_LOG_ALONE):
                self.host.log_lines(self.session, lines)
                lines = []
            match action:  # the commonest first
                case EventData():
                    self.host.emit(self.session, action)
                case StartTimer():
                    self._start_timer(action.key, action.deadline)
                case StopTimer():
                    handle = self._timers.pop(action.key, None)
                    if handle is not None:
                        handle.cancel()
                case Send():
                    self._send(action.message)
                case RecordState():
                    self.session.call_state = action.state
                    if action.state is CallState.CONNECTED:
                        self.session.date_answered = self._clock.utc()
                    self.host.save_session(self.session)
                case PlaceLeg():
                    worker = self._worker()
                    self.host.bind_leg(worker, action.make_call.call_id, self)
                    worker.send(action.make_call)
                case StartFlow():
                    self._start_flow()
                case RecordOutcome():
                    self._record_outcome(action)
                case Finished():
                    self._finished()

                case RenderSpeech():
                    self._render_speech(action.command)
                case Record():
                    Path(action.start.path).parent.mkdir(parents=True, exist_ok=True)
                    self._send(action.start)
                case RequestWebhook():
                    self._spawn(self._webhook(action.command))
                case ReleaseSlots():
                    self.host.release_reservation(self._worker(), action.count)
                case _:
                    assert_never(action)
        if lines:
            self.host.log_lines(self.session, lines)

    def _feed(self, input_: Callable[[float], list[Action]]) -> None:
        """Give the core an input with the time, and carry out what it answers. An input the
        core refuses is a bug: logged with the session id, not raised into whoever delivered
        the input."""
        try:
            actions = input_(self._clock.monotonic())
        except CallProtocolError as error:
            log.error("call protocol error: %s", error, extra={"session_id": self.session.id})
            return
        self._carry_out(actions)

    def _worker(self) -> WorkerHandle:
        if self.worker is None:
            raise CallProtocolError(self.core.phase, "a worker action before the call was placed")
        return self.worker

    def _send(self, message: msg.ToWorker) -> None:
        if self.worker is not None:
            self.worker.send(message)

    def _start_timer(self, key: TimerKey, deadline: float) -> None:
        earlier = self._timers.pop(key, None)
        if earlier is not None:
            earlier.cancel()
        when = self._loop.time() + deadline - self._clock.monotonic()
        self._timers[key] = self._loop.call_at(when, self._timer_fired, key)

    def _timer_fired(self, key: TimerKey) -> None:
        self._timers.pop(key, None)
        self._feed(lambda now: self.core.timer_fired(key, now))

    def _record_outcome(self, action: RecordOutcome) -> None:
        session = self.session
        session.outcome = action.outcome
        session.call_state = CallState.DISCONNECTED
        session.sip_code = action.sip_code
        session.sip_reason = action.reason
        session.date_completed = self._clock.utc()
        self.host.save_session(session)  # final: committed now, with the log so far

    def _start_flow(self) -> None:
        try:
            run = self.host.new_flow_run(self.session)
        except EngineError as exc:
            error = exc  # the lambda may not close over the except clause's name
            self._feed(lambda now: self.core.flow_unavailable(error, now))
            return
        self._feed(lambda now: self.core.flow_started(run, now))

    def _finished(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        self.done.set()
        self.host.call_finished(self)

    # ------------------------------------------------------------------ speech

    def _predict_answer_prompt(self) -> PredictedPrompt | None:
        """The prompt the flow will begin with, if a rehearsal of its start tells, with its
        file ready; the worker plays it on answer, before the controller hears of the answer."""
        if not self.host.answer_prompts:
            return None
        try:
            rehearsal = self.host.new_flow_run(self.session)
            prompt = first_prompt(rehearsal.start(self._clock.monotonic()))
        except EngineError:
            return None  # the real run at the answer meets the same error and logs it
        if prompt is None:
            return None
        command = prompt.command
        if isinstance(command, cmd.PlayAudio):
            return PredictedPrompt(prompt, command.path)
        rendered = self.host.tts.rendered(command.text, command.voice, command.rate_wpm)
        if rendered is None:
            self._spawn(self._render_ahead(command))  # while the phone rings
            return None
        return PredictedPrompt(prompt, str(rendered))

    async def _render_ahead(self, command: cmd.Speak) -> None:
        # A failure is the real run's to report, when it renders the same text again.
        with contextlib.suppress(EngineError):
            await self.host.tts.render(command.text, command.voice, command.rate_wpm)

    def _render_speech(self, command: cmd.Speak) -> None:
        rendered = self.host.tts.rendered(command.text, command.voice, command.rate_wpm)
        if rendered is not None:
            path = str(rendered)
            self._feed(lambda now: self.core.speech_ready(command.playback_id, path, None, now))
        else:
            self._spawn(self._render(command))

    async def _render(self, command: cmd.Speak) -> None:
        try:
            path = await self.host.tts.render(command.text, command.voice, command.rate_wpm)
        except EngineError as exc:
            error = str(exc)
            self._feed(lambda now: self.core.speech_ready(command.playback_id, None, error, now))
            return
        self._feed(lambda now: self.core.speech_ready(command.playback_id, str(path), None, now))

    # ------------------------------------------------------------------ webhooks

    async def _webhook(self, command: cmd.CallWebhook) -> None:
        try:
            response = await self.host.http.request(
                command.method,
                command.url,
                headers=command.headers,
                json=command.json_body if command.method == "POST" else None,
                timeout=command.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            completed = ev.WebhookCompleted(command.request_id, None, None, error)
        else:
            body: dict[str, Any] | None = None
            try:
                parsed = response.json()
                body = parsed if isinstance(parsed, dict) else None
            except ValueError:
                body = None
            failure = None if response.is_success else f"HTTP {response.status_code}"
            completed = ev.WebhookCompleted(command.request_id, response.status_code, body, failure)
        self._feed(lambda now: self.core.flow_event(completed, now))

    # ------------------------------------------------------------------ tasks

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "call task failed", exc_info=task.exception(), extra={"session_id": self.session.id}
            )
