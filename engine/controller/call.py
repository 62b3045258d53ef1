"""One session's call: worker messages in, flow events out, flow commands carried out.

The driver owns the session's life from placement to its final state. Every path ends in
`_finish`, which writes exactly one outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from engine.config import TrunkConfig
from engine.controller.pool import WorkerHandle
from engine.controller.tts import TtsCache
from engine.errors import EngineError
from engine.flow import commands as cmd
from engine.flow import events as ev
from engine.flow.first_prompt import FirstPrompt, first_prompt
from engine.ipc import messages as msg
from engine.sessions.model import CallState, Outcome, Session, utc_now
from engine.sessions.outcomes import outcome_for_unanswered
from engine.sessions.validation import normalise_e164

log = logging.getLogger(__name__)

ON_HANGUP_GRACE_SECONDS = 30.0
"""How long non-media on_hangup steps (webhooks) may run after the far end hung up."""

TAIL_HANGUP_GRACE_SECONDS = 2.0
"""When the worker hangs up on its own after a prompt (HangupAfterPlayback), how long after the
flow's own Hangup the controller waits for the call's end before sending a Hangup itself."""


class FlowRunLike(Protocol):
    finished: bool

    def start(self, now: float) -> list[Any]: ...

    def handle(self, event: Any, now: float) -> list[Any]: ...


class CallHost(Protocol):
    """What a call needs from the engine around it."""

    tts: TtsCache
    recordings_dir: Path
    http: httpx.AsyncClient

    @property
    def answer_prompts(self) -> bool:
        """Hand the worker the flow's first prompt with the INVITE (MakeCall.answer_prompt)."""
        ...

    def log_session(self, session: Session, message: str) -> None: ...

    def save_session(self, session: Session) -> None: ...

    def emit(self, session: Session, kind: str, data: dict[str, Any]) -> None: ...

    def new_flow_run(self, session: Session) -> FlowRunLike: ...

    def release_reservation(self, worker: WorkerHandle, slots: int) -> None: ...

    def bind_leg(self, worker: WorkerHandle, leg_id: str, call: CallDriver) -> None: ...

    def call_finished(self, call: CallDriver) -> None: ...


@dataclass
class SecondLeg:
    leg_id: str
    answered_at: float | None = None
    ring_timer: asyncio.TimerHandle | None = None


class CallDriver:
    def __init__(
        self,
        host: CallHost,
        session: Session,
        trunk: TrunkConfig,
        *,
        legs_needed: int,
        requested_at: float,
    ) -> None:
        self.host = host
        self.session = session
        self.trunk = trunk
        self.legs_needed = legs_needed
        self.requested_at = requested_at
        self.main_leg = f"{session.id}.a"
        self.request_uri = trunk.request_uri(session.destination)
        self.worker: WorkerHandle | None = None
        self.flow: FlowRunLike | None = None
        self.done = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._spare_slots = 0
        self._answered = False
        self._main_ended = False
        self._canceled_by_us = False
        self._ring_timed_out = False
        self._hangup_requested = False
        self._worker_lost = False
        self._final_code: int | None = None
        self._final_reason: str | None = None
        self._handed_to_worker_at: float | None = None
        self._rtp: msg.RtpCounts | None = None
        self._invite_sent_at: float | None = None
        self._ringing_at: float | None = None
        self._answered_at: float | None = None
        self._ended_at: float | None = None
        """The worker's clock (time.monotonic()), as are _invite_sent_at, _ringing_at and
        _answered_at, and the second legs' times."""
        self._ring_timer: asyncio.TimerHandle | None = None
        self._duration_timer: asyncio.TimerHandle | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._flow_timers: dict[str, asyncio.TimerHandle] = {}
        self._playbacks_pending_tts: set[str] = set()
        self._playbacks_playing: set[str] = set()
        self._tail_hints: dict[str, float] = {}
        """HangupAfterPlayback's seconds by playback id, until the worker's PlaybackDone."""
        self._tail_armed = False
        """That prompt ended by itself: the worker hangs up when the flow's pauses are over."""
        self._tail_timer: asyncio.TimerHandle | None = None
        self._predicted_prompt: tuple[FirstPrompt, str] | None = None
        """The flow's first prompt and its file, handed to the worker with the INVITE, until
        the real run asks for its first prompt at the answer (or for something else)."""
        self._answer_prompt_alias: str | None = None
        """The flow's playback id for the worker's ANSWER_PROMPT_ID, once the run asked for
        that very prompt."""
        self._second_legs: dict[str, SecondLeg] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ placement

    def place(self, worker: WorkerHandle) -> None:
        """Send the INVITE through `worker`, on which `legs_needed` slots are reserved."""
        self.worker = worker
        self._spare_slots = self.legs_needed - 1
        self.host.bind_leg(worker, self.main_leg, self)
        self.session.call_state = CallState.RINGING
        self.host.save_session(self.session)
        make_call = self._make_call(
            self.main_leg,
            self.request_uri,
            self.session.from_address,
            None,
            answer_prompt=self._predict_answer_prompt(),
        )
        self._handed_to_worker_at = time.monotonic()
        worker.send(make_call)
        self._ring_timer = self._loop.call_later(
            self.trunk.ring_timeout_seconds, self._ring_timeout
        )

    def _make_call(
        self,
        leg_id: str,
        request_uri: str,
        caller: str,
        trunk_name: str | None,
        answer_prompt: msg.AnswerPrompt | None = None,
    ) -> msg.MakeCall:
        # The From host is the trunk's host: providers that check it stay happy.
        return msg.MakeCall(
            call_id=leg_id,
            session_id=self.session.id,
            request_uri=request_uri,
            from_uri=f"sip:{caller}@{self.trunk.host}",
            headers=self.trunk.headers,
            trunk=trunk_name or self.trunk.name,
            answer_prompt=answer_prompt,
        )

    def fail_before_placing(self, reason: str) -> None:
        self._finish(Outcome.FAILED, None, reason)

    def cancel_queued(self) -> None:
        self._finish(Outcome.CANCELED, None, "canceled before dialling")

    def end(self) -> None:
        """DELETE /sessions/{id}: cancel before the answer, hang up after it."""
        if self._main_ended:
            return
        if not self._answered:
            self._canceled_by_us = True
            self.host.log_session(self.session, "canceled by API request: sending CANCEL")
            self._send(msg.Hangup(call_id=self.main_leg, sip_code=487))
        else:
            self._hangup_all("hung up by API request")

    # ------------------------------------------------------------------ worker messages

    def on_worker_message(self, leg_id: str, message: msg.FromWorker) -> None:
        if leg_id != self.main_leg:
            self._on_second_leg(leg_id, message)
            return
        if isinstance(message, msg.InviteSent):
            self._invite_sent_at = message.sent_at or time.monotonic()
            self.host.log_session(self.session, f"INVITE sent to {self.trunk.name}")
            self.host.emit(
                self.session,
                "call.invite_sent",
                {
                    "trunk": self.trunk.name,
                    "request_uri": self.request_uri,
                    "worker_id": str(self.worker.worker_id) if self.worker else None,
                    "api_to_invite_seconds": self.api_to_invite_seconds,
                    "queue_seconds": _between(self.requested_at, self._handed_to_worker_at),
                    "worker_pickup_seconds": _between(
                        self._handed_to_worker_at, message.received_at
                    ),
                    "make_call_seconds": _between(message.received_at, message.sent_at),
                },
            )
        elif isinstance(message, msg.CallProgress):
            if self._ringing_at is None:
                self._ringing_at = message.progress_at
                self.host.log_session(
                    self.session, f"ringing ({message.sip_code} {message.reason})"
                )
                self.host.emit(
                    self.session,
                    "call.ringing",
                    {"sip_code": message.sip_code, "early_media": message.sip_code == 183},
                )
        elif isinstance(message, msg.CallAnswered):
            self._on_answered(message.answered_at)
        elif isinstance(message, msg.CallEnded):
            self._rtp = message.rtp
            self._ended_at = message.ended_at
            if self._tail_armed and not message.remote_hangup and not self._hangup_requested:
                self._run_out_tail_pauses()
            self._on_main_ended(message.sip_code, message.reason, message.remote_hangup)
        elif isinstance(message, msg.DigitReceived):
            self.host.log_session(self.session, f"digit received: {message.digit}")
            self.host.emit(self.session, "call.digit_received", {"digit": message.digit})
            self._deliver(ev.DigitReceived(message.digit))
        elif isinstance(message, msg.PlaybackDone):
            playback_id = message.playback_id
            if playback_id == msg.ANSWER_PROMPT_ID:
                if self._answer_prompt_alias is None:
                    return  # the run asked for another prompt: this one was stopped
                playback_id = self._answer_prompt_alias
            self._playbacks_playing.discard(playback_id)
            if self._tail_hints.pop(playback_id, None) is not None:
                self._tail_armed = not message.stopped
            self._deliver(ev.PlaybackFinished(playback_id, interrupted=message.stopped))
        elif isinstance(message, msg.RecordingDone):
            self.host.log_session(
                self.session,
                f"recording saved: {message.path} ({message.duration_seconds:.1f} s,"
                f" {message.reason})",
            )
            self.host.emit(
                self.session,
                "recording.saved",
                {"path": message.path, "duration_seconds": message.duration_seconds},
            )
            self._deliver(
                ev.RecordingFinished(
                    message.recording_id, message.path, message.duration_seconds, message.reason
                )
            )
        elif isinstance(message, msg.TransferResult):
            self.host.log_session(
                self.session, f"transfer {message.sip_code} {message.reason}".strip()
            )
            self._deliver(ev.TransferFinished(message.accepted, message.sip_code, message.reason))
        elif isinstance(message, msg.CommandFailed):
            # A failed PlayFile is also answered with its PlaybackDone, which ends the step.
            self.host.log_session(self.session, f"{message.command} failed: {message.reason}")

    def on_worker_lost(self) -> None:
        self.host.log_session(self.session, "worker lost")
        self._main_ended = True
        self._worker_lost = True
        self._final_code = None
        self._final_reason = "worker lost"
        for leg in list(self._second_legs.values()):
            self._cancel_handle(leg.ring_timer)
        self._second_legs.clear()
        if self.flow is not None and not self.flow.finished:
            self._deliver(ev.RemoteHangup(sip_code=500, reason="worker lost"))
        self._finish_after_hangup()

    # ------------------------------------------------------------------ call states

    def _on_answered(self, answered_at: float) -> None:
        self._answered = True
        self._answered_at = answered_at
        self._cancel_handle(self._ring_timer)
        self.session.call_state = CallState.CONNECTED
        self.session.date_answered = utc_now()
        self.host.save_session(self.session)
        self.host.log_session(self.session, "answered")
        self.host.emit(
            self.session,
            "call.answered",
            {
                "post_dial_delay_seconds": _between(self._invite_sent_at, self._ringing_at),
                "answer_time_seconds": _between(self._invite_sent_at, self._answered_at),
            },
        )
        self._duration_timer = self._loop.call_later(
            self.trunk.max_call_duration_seconds, self._max_duration_reached
        )
        if self._canceled_by_us:
            self._hangup_all("canceled by API request")
            return
        try:
            self.flow = self.host.new_flow_run(self.session)
            self.host.log_session(self.session, f"flow {self.session.flow_id} started")
            self._execute(self.flow.start(self._loop.time()))
            self._drop_answer_prompt()
        except EngineError as exc:
            self.host.log_session(self.session, f"flow error: {exc}")
            self._hangup_all("flow error")

    def _on_main_ended(self, sip_code: int, reason: str, remote_hangup: bool) -> None:
        self._main_ended = True
        self._cancel_handle(self._ring_timer)
        self._cancel_handle(self._duration_timer)
        self._final_code = sip_code
        self._final_reason = reason
        who = "far end" if remote_hangup else "engine"
        self.host.log_session(self.session, f"hang-up by {who}: {sip_code} {reason}".strip())
        if self._rtp is not None:
            self.host.log_session(
                self.session,
                f"audio: {self._rtp.packets_sent} RTP packets sent,"
                f" {self._rtp.packets_received} received, {self._rtp.packets_lost} lost",
            )
        for leg_id in list(self._second_legs):
            self._send(msg.Hangup(call_id=leg_id))
        if self.flow is not None and not self.flow.finished:
            self._deliver(ev.RemoteHangup(sip_code=sip_code, reason=reason))
            if not self.flow.finished:
                self._grace_timer = self._loop.call_later(
                    ON_HANGUP_GRACE_SECONDS, self._finish_after_hangup
                )
                return
        self._finish_after_hangup()

    def _finish_after_hangup(self) -> None:
        if self._worker_lost:
            # Also when the flow finishes on the RemoteHangup that on_worker_lost delivers.
            self._finish(Outcome.FAILED, None, "worker lost")
            return
        if self._second_legs and self.worker is not None:
            return  # waits for the second legs' CallEnded
        if self._answered:
            self._finish(Outcome.COMPLETED, self._final_code, self._final_reason)
            return
        outcome = outcome_for_unanswered(
            self._final_code or 0,
            canceled_by_us=self._canceled_by_us,
            ring_timeout=self._ring_timed_out,
        )
        self._finish(outcome, self._final_code, self._final_reason)

    def _ring_timeout(self) -> None:
        if self._answered or self._main_ended:
            return
        self._ring_timed_out = True
        self.host.log_session(
            self.session, f"no answer after {self.trunk.ring_timeout_seconds:g} s: sending CANCEL"
        )
        self._send(msg.Hangup(call_id=self.main_leg, sip_code=487))

    def _max_duration_reached(self) -> None:
        self._hangup_all(
            f"maximum call duration of {self.trunk.max_call_duration_seconds:g} s reached"
        )

    def _hangup_all(self, why: str) -> None:
        if self._hangup_requested:
            return
        self._hangup_requested = True
        self.host.log_session(self.session, f"hanging up: {why}")
        for leg_id in list(self._second_legs):
            self._send(msg.Hangup(call_id=leg_id))
        self._send(msg.Hangup(call_id=self.main_leg))

    def _finish(self, outcome: Outcome, sip_code: int | None, reason: str | None) -> None:
        if self.session.outcome is not None:
            return
        for handle in (self._ring_timer, self._duration_timer, self._grace_timer, self._tail_timer):
            self._cancel_handle(handle)
        for handle in self._flow_timers.values():
            handle.cancel()
        self._flow_timers.clear()
        if self.worker is not None and self._spare_slots:
            self.host.release_reservation(self.worker, self._spare_slots)
            self._spare_slots = 0
        session = self.session
        session.outcome = outcome
        session.call_state = CallState.DISCONNECTED
        session.sip_code = sip_code
        session.sip_reason = reason
        session.date_completed = utc_now()
        detail = f" ({sip_code} {reason})" if sip_code else (f" ({reason})" if reason else "")
        self.host.log_session(session, f"outcome: {outcome.value}{detail}")
        self.host.save_session(session)  # final: committed now, with the log so far
        end = self._ended_at or time.monotonic()
        self.host.emit(
            session,
            "call.ended",
            {
                "outcome": outcome.value,
                "sip_code": sip_code,
                "sip_reason": reason,
                "post_dial_delay_seconds": _between(self._invite_sent_at, self._ringing_at),
                "ring_seconds": _between(
                    self._ringing_at or self._invite_sent_at, self._answered_at or end
                )
                if self._invite_sent_at
                else None,
                "talk_seconds": _between(self._answered_at, end),
                **_rtp_fields(self._rtp),
            },
        )
        self.host.emit(
            session,
            "session.completed",
            {
                "outcome": outcome.value,
                "duration_seconds": (session.date_completed - session.date_created).total_seconds(),
            },
        )
        for task in self._tasks:
            task.cancel()
        self.done.set()
        self.host.call_finished(self)

    @property
    def api_to_invite_seconds(self) -> float | None:
        return _between(self.requested_at, self._invite_sent_at)

    # ------------------------------------------------------------------ the flow

    def _deliver(self, event: ev.FlowEvent) -> None:
        if self.flow is None or self.flow.finished:
            return
        try:
            commands = self.flow.handle(event, self._loop.time())
        except EngineError as exc:
            self.host.log_session(self.session, f"flow error: {exc}")
            self._hangup_all("flow error")
            return
        self._execute(commands)

    def _execute(self, commands: list[Any]) -> None:
        for command in commands:
            handler = _COMMAND_HANDLERS.get(type(command))
            if handler is None:
                self.host.log_session(self.session, f"unsupported flow command {command!r}")
                continue
            handler(self, command)

    def _media_allowed(self) -> bool:
        return self._answered and not self._main_ended and not self._hangup_requested

    def _play_audio(self, command: cmd.PlayAudio) -> None:
        if not self._media_allowed():
            self._deliver_later(ev.PlaybackFinished(command.playback_id, interrupted=True))
            return
        self._playbacks_playing.add(command.playback_id)
        if self._is_answer_prompt(command):
            self._answer_prompt_alias = command.playback_id
            return
        self._drop_answer_prompt()
        self._send(
            msg.PlayFile(
                call_id=self.main_leg,
                playback_id=command.playback_id,
                path=command.path,
                hangup_after_seconds=self._tail_hints.get(command.playback_id),
            )
        )

    def _predict_answer_prompt(self) -> msg.AnswerPrompt | None:
        """The prompt the flow will begin with, if a rehearsal of its start tells, with its
        file ready; the worker plays it on answer, before the controller hears of the answer."""
        if not self.host.answer_prompts:
            return None
        try:
            rehearsal = self.host.new_flow_run(self.session)
            prompt = first_prompt(rehearsal.start(self._loop.time()))
        except EngineError:
            return None  # the real run at the answer meets the same error and logs it
        if prompt is None:
            return None
        path = self._ready_path(prompt.command)
        if path is None:
            assert isinstance(prompt.command, cmd.Speak)
            self._spawn(self._render_ahead(prompt.command))  # while the phone rings
            return None
        self._predicted_prompt = (prompt, path)
        return msg.AnswerPrompt(path=path, hangup_after_seconds=prompt.hangup_after)

    async def _render_ahead(self, command: cmd.Speak) -> None:
        # A failure is the real run's to report, when it renders the same text again.
        with contextlib.suppress(EngineError):
            await self.host.tts.render(command.text, command.voice, command.rate_wpm)

    def _ready_path(self, command: cmd.PlayAudio | cmd.Speak) -> str | None:
        if isinstance(command, cmd.PlayAudio):
            return command.path
        rendered = self.host.tts.rendered(command.text, command.voice, command.rate_wpm)
        return str(rendered) if rendered is not None else None

    def _is_answer_prompt(self, command: cmd.PlayAudio) -> bool:
        """The run's first prompt is the one the worker already plays: same id, file, tail."""
        if self._predicted_prompt is None:
            return False
        prompt, path = self._predicted_prompt
        return (
            command.playback_id == prompt.playback_id
            and command.path == path
            and self._tail_hints.get(command.playback_id) == prompt.hangup_after
        )

    def _drop_answer_prompt(self) -> None:
        """The run began otherwise than predicted: stop the worker's answer prompt."""
        if self._predicted_prompt is None:
            return
        self._predicted_prompt = None
        if self._answer_prompt_alias is None:
            self.host.log_session(self.session, "the flow began otherwise than predicted")
            self._send(msg.StopPlayback(call_id=self.main_leg, playback_id=msg.ANSWER_PROMPT_ID))

    def _hangup_after_playback(self, command: cmd.HangupAfterPlayback) -> None:
        # Second legs end with the main one only on the controller's Hangup.
        if not self._second_legs:
            self._tail_hints[command.playback_id] = command.seconds

    def _run_out_tail_pauses(self) -> None:
        """The worker hung up where the flow's last pauses end: fire their timers now, so the
        flow reaches its hangup step before it hears of the call's end."""
        while self._flow_timers and self.flow is not None and not self.flow.finished:
            timer_id, handle = min(self._flow_timers.items(), key=lambda item: item[1].when())
            handle.cancel()
            self._timer_fired(timer_id)

    def _speak(self, command: cmd.Speak) -> None:
        path = self._ready_path(command)
        if path is not None:
            self._play_audio(cmd.PlayAudio(command.playback_id, path))
            return
        self._playbacks_pending_tts.add(command.playback_id)
        self._spawn(self._render_and_play(command))

    async def _render_and_play(self, command: cmd.Speak) -> None:
        try:
            path = await self.host.tts.render(command.text, command.voice, command.rate_wpm)
        except EngineError as exc:
            self.host.log_session(self.session, f"text to speech failed: {exc}")
            path = None
        if command.playback_id not in self._playbacks_pending_tts:
            return  # stopped while rendering; PlaybackFinished was already delivered
        self._playbacks_pending_tts.discard(command.playback_id)
        if path is None:
            self._deliver(ev.PlaybackFinished(command.playback_id, interrupted=True))
            return
        self._play_audio(cmd.PlayAudio(command.playback_id, str(path)))

    def _stop_playback(self, command: cmd.StopPlayback) -> None:
        if command.playback_id in self._playbacks_pending_tts:
            self._playbacks_pending_tts.discard(command.playback_id)
            self._deliver_later(ev.PlaybackFinished(command.playback_id, interrupted=True))
        elif command.playback_id in self._playbacks_playing:
            worker_id = command.playback_id
            if worker_id == self._answer_prompt_alias:
                worker_id = msg.ANSWER_PROMPT_ID
            self._send(msg.StopPlayback(call_id=self.main_leg, playback_id=worker_id))

    def _start_recording(self, command: cmd.StartRecording) -> None:
        folder = self.host.recordings_dir / self.session.id
        folder.mkdir(parents=True, exist_ok=True)
        name = Path(command.name).name
        path = folder / (name if name.endswith(".wav") else f"{name}.wav")
        if not self._media_allowed():
            self._deliver_later(
                ev.RecordingFinished(command.recording_id, str(path), 0.0, "hangup")
            )
            return
        self._send(
            msg.StartRecording(
                call_id=self.main_leg,
                recording_id=command.recording_id,
                path=str(path),
                max_seconds=command.max_seconds,
                silence_seconds=command.silence_seconds,
                beep=command.beep,
            )
        )

    def _stop_recording(self, command: cmd.StopRecording) -> None:
        self._send(msg.StopRecording(call_id=self.main_leg, recording_id=command.recording_id))

    def _set_timer(self, command: cmd.SetTimer) -> None:
        self._cancel_handle(self._flow_timers.pop(command.timer_id, None))
        self._flow_timers[command.timer_id] = self._loop.call_at(
            command.deadline, self._timer_fired, command.timer_id
        )

    def _timer_fired(self, timer_id: str) -> None:
        self._flow_timers.pop(timer_id, None)
        self._deliver(ev.TimerFired(timer_id))

    def _cancel_timer(self, command: cmd.CancelTimer) -> None:
        self._cancel_handle(self._flow_timers.pop(command.timer_id, None))

    def _send_digits(self, command: cmd.SendDigits) -> None:
        ok = self._media_allowed()
        if ok:
            self._send(
                msg.SendDigits(call_id=self.main_leg, digits_id="digits", digits=command.digits)
            )
        self._deliver_later(ev.DigitsSent(ok=ok))

    def _transfer(self, command: cmd.TransferCall) -> None:
        target = self._target_uri(command.target)
        if target is None or not self._media_allowed():
            why = "not a number or SIP URI" if target is None else "the call is over"
            self._deliver_later(ev.TransferFinished(False, 0, why))
            return
        self.host.log_session(self.session, f"transferring to {target}")
        self._send(msg.Transfer(call_id=self.main_leg, transfer_id="transfer", target_uri=target))

    def _dial_leg(self, command: cmd.DialLeg) -> None:
        target = self._target_uri(command.target)
        worker = self.worker
        if target is None or worker is None or not self._media_allowed() or not self._spare_slots:
            why = "no free slot for a second leg" if target else "not a number or SIP URI"
            self._deliver_later(ev.DialFinished(command.leg_id, False, 0, why))
            return
        self._spare_slots -= 1
        leg_id = f"{self.session.id}.{command.leg_id}"
        leg = SecondLeg(leg_id=command.leg_id)
        self._second_legs[leg_id] = leg
        self.host.bind_leg(worker, leg_id, self)
        caller = command.caller_id or self.session.from_address
        self.host.log_session(self.session, f"dialling second leg {target}")
        worker.send(self._make_call(leg_id, target, caller, command.trunk))
        leg.ring_timer = self._loop.call_later(
            command.ring_timeout_seconds, self._send, msg.Hangup(call_id=leg_id, sip_code=487)
        )

    def _on_second_leg(self, leg_id: str, message: msg.FromWorker) -> None:
        leg = self._second_legs.get(leg_id)
        if leg is None:
            return
        if isinstance(message, msg.CallAnswered):
            self._cancel_handle(leg.ring_timer)
            leg.answered_at = message.answered_at
            self.host.log_session(self.session, "second leg answered: bridging")
            self._send(msg.Bridge(call_id=self.main_leg, other_call_id=leg_id))
            self._deliver(ev.DialAnswered(leg.leg_id))
        elif isinstance(message, msg.CallEnded):
            self._cancel_handle(leg.ring_timer)
            del self._second_legs[leg_id]
            ended_at = message.ended_at or time.monotonic()
            duration = ended_at - leg.answered_at if leg.answered_at else 0.0
            self.host.log_session(
                self.session, f"second leg ended: {message.sip_code} {message.reason}"
            )
            self._deliver(
                ev.DialFinished(
                    leg.leg_id, message.answered, message.sip_code, message.reason, duration
                )
            )
            if self._main_ended and not self._second_legs:
                self._finish_after_hangup()

    def _hangup_leg(self, command: cmd.HangupLeg) -> None:
        self._send(msg.Hangup(call_id=f"{self.session.id}.{command.leg_id}"))

    def _call_webhook(self, command: cmd.CallWebhook) -> None:
        self._spawn(self._webhook(command))

    async def _webhook(self, command: cmd.CallWebhook) -> None:
        self.host.log_session(self.session, f"webhook {command.method} {command.url}")
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
            self._deliver(ev.WebhookCompleted(command.request_id, None, None, error))
            return
        body: dict[str, Any] | None = None
        try:
            parsed = response.json()
            body = parsed if isinstance(parsed, dict) else None
        except ValueError:
            body = None
        failure = None if response.is_success else f"HTTP {response.status_code}"
        self._deliver(ev.WebhookCompleted(command.request_id, response.status_code, body, failure))

    def _hangup(self, command: cmd.Hangup) -> None:
        if self._main_ended:
            return
        if self._tail_armed and not self._hangup_requested:
            # The worker hangs up by itself when the pauses after the prompt are over.
            self._hangup_requested = True
            self.host.log_session(self.session, f"hanging up: {command.reason}")
            self._tail_timer = self._loop.call_later(
                TAIL_HANGUP_GRACE_SECONDS, self._tail_hangup_overdue
            )
            return
        self._hangup_all(command.reason)

    def _tail_hangup_overdue(self) -> None:
        if not self._main_ended:
            self.host.log_session(self.session, "the worker has not hung up: sending the hang-up")
            self._send(msg.Hangup(call_id=self.main_leg))

    def _step_started(self, command: cmd.StepStarted) -> None:
        detail = f": {command.detail}" if command.detail else ""
        self.host.log_session(
            self.session, f"step {command.step} ({command.step_type}) started{detail}"
        )
        self.host.emit(
            self.session,
            "flow.step_started",
            {"step": command.step, "type": command.step_type},
        )

    def _step_finished(self, command: cmd.StepFinished) -> None:
        detail = f": {command.detail}" if command.detail else ""
        self.host.log_session(
            self.session,
            f"step {command.step} ({command.step_type}) finished: {command.result}{detail}",
        )
        self.host.emit(
            self.session,
            "flow.step_finished",
            {"step": command.step, "type": command.step_type, "result": command.result},
        )

    def _log_command(self, command: cmd.Log) -> None:
        self.host.log_session(self.session, command.message)

    def _flow_finished(self, command: cmd.FlowFinished) -> None:
        if command.error:
            self.host.log_session(self.session, f"flow ended with an error: {command.error}")
        else:
            self.host.log_session(self.session, f"flow finished: {command.result}")
        if self._main_ended:
            self._finish_after_hangup()

    # ------------------------------------------------------------------ helpers

    def _target_uri(self, target: str) -> str | None:
        if target.startswith(("sip:", "sips:")):
            return target
        number = normalise_e164(target)
        return self.trunk.request_uri(number) if number else None

    def _send(self, message: msg.Message) -> None:
        if self.worker is not None:
            self.worker.send(message)

    def _deliver_later(self, event: ev.FlowEvent) -> None:
        """Deliver after the current command batch, never re-entering the interpreter."""
        self._loop.call_soon(self._deliver, event)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task failed", exc_info=task.exception())

    @staticmethod
    def _cancel_handle(handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            handle.cancel()


_COMMAND_HANDLERS: dict[type, Callable[[CallDriver, Any], None]] = {
    cmd.PlayAudio: CallDriver._play_audio,
    cmd.HangupAfterPlayback: CallDriver._hangup_after_playback,
    cmd.Speak: CallDriver._speak,
    cmd.StopPlayback: CallDriver._stop_playback,
    cmd.StartRecording: CallDriver._start_recording,
    cmd.StopRecording: CallDriver._stop_recording,
    cmd.SetTimer: CallDriver._set_timer,
    cmd.CancelTimer: CallDriver._cancel_timer,
    cmd.SendDigits: CallDriver._send_digits,
    cmd.TransferCall: CallDriver._transfer,
    cmd.DialLeg: CallDriver._dial_leg,
    cmd.HangupLeg: CallDriver._hangup_leg,
    cmd.CallWebhook: CallDriver._call_webhook,
    cmd.Hangup: CallDriver._hangup,
    cmd.StepStarted: CallDriver._step_started,
    cmd.StepFinished: CallDriver._step_finished,
    cmd.Log: CallDriver._log_command,
    cmd.FlowFinished: CallDriver._flow_finished,
}
"""What carries out each flow command (one table for every call, not a dict of bound methods
made per call)."""


def _rtp_fields(rtp: msg.RtpCounts | None) -> dict[str, int | float | None]:
    return {
        "rtp_packets_sent": rtp.packets_sent if rtp else None,
        "rtp_packets_received": rtp.packets_received if rtp else None,
        "rtp_packets_lost": rtp.packets_lost if rtp else None,
        "rtp_jitter_ms": rtp.jitter_ms if rtp else None,
    }


def _between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 6)
