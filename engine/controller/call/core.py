"""One session's call, sans-IO: worker messages, timers and flow results in, actions out.

    core = CallCore(spec)
    actions = core.place(worker_id, predicted, now)     # then, as things happen:
    actions = core.worker_message(message, now)         # or timer_fired, flow_started, ...

Every method takes `now` (seconds on the process's monotonic clock) and returns the actions to
carry out, in order; the core reads no clock and does no I/O, so its tests run without a loop
(aioquic's QuicConnection is the model). The flow run it drives is sans-IO too. An input that
makes no sense in the call's phase raises CallProtocolError before anything changes. Every path
ends in one RecordOutcome and Finished.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Container
from typing import Protocol, assert_never

from engine.controller.call.actions import (
    Action,
    Finished,
    PlaceLeg,
    Record,
    RecordOutcome,
    RecordState,
    RenderSpeech,
    RequestWebhook,
    Send,
    StartFlow,
    StartTimer,
    StopTimer,
    TimerKey,
    TimerKind,
)
from engine.controller.call.answer_prompt import PredictedPrompt, PromptPlan
from engine.controller.call.legs import SecondLegs
from engine.controller.call.phase import (
    CallPhase,
    CallProtocolError,
    CancelCause,
    Trigger,
    decide_outcome,
    next_phase,
)
from engine.controller.call.spec import CallSpec
from engine.errors import EngineError
from engine.events import model as em
from engine.flow import commands as cmd
from engine.flow import events as ev
from engine.ipc import messages as msg
from engine.sessions.model import CallState, Outcome

ON_HANGUP_GRACE_SECONDS = 30.0
"""How long non-media on_hangup steps (webhooks) may run after the far end hung up."""

TAIL_HANGUP_GRACE_SECONDS = 2.0
"""When the worker hangs up on its own after a prompt (HangupAfterPlayback), how long after the
flow's own Hangup the controller waits for the call's end before sending a Hangup itself."""

_DTMF_DIGIT = re.compile(r"[0-9*#A-D]")

CallMessage = (
    msg.InviteSent
    | msg.CallProgress
    | msg.CallAnswered
    | msg.CallEnded
    | msg.DigitReceived
    | msg.PlaybackDone
    | msg.RecordingDone
    | msg.TransferResult
    | msg.DigitsSent
    | msg.CommandFailed
)
"""What a worker says about one leg of a call."""


class FlowRunLike(Protocol):
    """The flow interpreter as the core drives it (engine.flow.machine.FlowRun)."""

    finished: bool

    def start(self, now: float) -> list[cmd.FlowCommand]: ...

    def handle(self, event: ev.FlowEvent, now: float) -> list[cmd.FlowCommand]: ...


P = CallPhase
_RINGING = frozenset({P.DIALLING, P.CANCELLING})
_ANSWERED = frozenset({P.CONNECTED, P.HANGING_UP})
_DIALLED = _RINGING | _ANSWERED
_RING_TIMER = TimerKey(TimerKind.RING)
_DURATION_TIMER = TimerKey(TimerKind.MAX_DURATION)
_GRACE_TIMER = TimerKey(TimerKind.HANGUP_GRACE)
_TAIL_TIMER = TimerKey(TimerKind.TAIL_HANGUP)


class CallCore:
    def __init__(self, spec: CallSpec) -> None:
        self.spec = spec
        self.phase = CallPhase.QUEUED
        self._cancels: set[CancelCause] = set()
        """Why a CANCEL was asked for: the ring timeout, a DELETE, or both. After a DELETE, an
        answer crossing the CANCEL is hung up."""
        self._worker_lost = False
        self._flow: FlowRunLike | None = None
        self._prompts = PromptPlan(None)
        self._legs = SecondLegs(spec, spare_slots=0)
        self._flow_timers: dict[str, float] = {}
        """The flow's timers by id, with their deadlines."""
        self._playing: set[str] = set()
        """Playback ids the worker plays."""
        self._speech_pending: set[str] = set()
        """Playback ids whose speech is being rendered."""
        self._recordings: dict[str, str] = {}
        """Recording ids the worker records, with their paths, until their RecordingDone."""
        self._transfers: set[str] = set()
        """Transfer ids waiting for their TransferResult."""
        self._digits: set[str] = set()
        """SendDigits ids waiting for their DigitsSent."""
        self._final_code: int | None = None
        self._final_reason: str | None = None
        self._worker_id: int | None = None
        self._rtp: msg.RtpCounts | None = None
        self._handed_at: float | None = None
        self._invite_sent_at: float | None = None
        self._ringing_at: float | None = None
        self._answered_at: float | None = None
        self._ended_at: float | None = None
        """The worker's clock, as are _invite_sent_at, _ringing_at and _answered_at."""
        self._now = 0.0
        self._out: list[Action] = []
        self._later: deque[ev.FlowEvent] = deque()
        """Flow events for after the current batch of commands: never re-enter the flow."""

    # ------------------------------------------------------------------ inputs

    def place(self, worker_id: int, predicted: PredictedPrompt | None, now: float) -> list[Action]:
        """The trunk and a worker have room: dial, on `worker_id`, where `legs_needed` slots
        are reserved; the worker plays `predicted` on the answer, if given."""
        self._begin(now)
        self._move(Trigger.PLACE)
        spec = self.spec
        self._worker_id = worker_id
        self._legs = SecondLegs(spec, spare_slots=spec.legs_needed - 1)
        self._prompts = PromptPlan(predicted)
        self._handed_at = now
        self._out.append(RecordState(CallState.RINGING))
        make_call = spec.make_call(
            spec.main_leg, spec.request_uri, spec.caller_id, answer_prompt=self._prompts.offer()
        )
        self._out.append(PlaceLeg(make_call))
        self._out.append(StartTimer(_RING_TIMER, now + spec.trunk.ring_timeout_seconds))
        return self._end()

    def fail_before_placing(self, reason: str, now: float) -> list[Action]:
        """No worker, a shutdown, or placing the call failed before its MakeCall left."""
        self._begin(now)
        self._finish(Outcome.FAILED, None, reason)
        return self._end()

    def cancel_queued(self, now: float) -> list[Action]:
        self._begin(now)
        self._require((P.QUEUED,), what="a cancel of a queued call")
        self._finish(Outcome.CANCELED, None, "canceled before dialling")
        return self._end()

    def end(self, now: float) -> list[Action]:
        """DELETE /sessions/{id} once dialled: cancel before the answer, hang up after it."""
        self._begin(now)
        if self.phase is P.DIALLING:
            self._cancel_call(CancelCause.API, "canceled by API request: sending CANCEL")
        elif self.phase is P.CANCELLING and CancelCause.API not in self._cancels:
            self._cancels.add(CancelCause.API)  # after the ring timeout's CANCEL
            self._out.append("canceled by API request: CANCEL already sent")
        elif self.phase is P.CONNECTED:
            self._hang_up("hung up by API request")
        elif self.phase is P.QUEUED:
            raise CallProtocolError(self.phase, "an API hang-up of a call still in its queue")
        return self._end()

    def worker_message(self, message: CallMessage, now: float) -> list[Action]:
        self._begin(now)
        if message.call_id == self.spec.main_leg:
            self._main_leg(message)
        elif message.call_id is not None and message.call_id in self._legs:
            self._second_leg(message.call_id, message)
        else:
            raise CallProtocolError(self.phase, f"{message.type} for an unknown leg")
        return self._end()

    def worker_lost(self, now: float) -> list[Action]:
        self._begin(now)
        self._move(Trigger.WORKER_LOST)
        self._worker_lost = True
        self._final_code, self._final_reason = None, "worker lost"
        self._out.append("worker lost")
        self._legs.lost(self._out)
        self._deliver(ev.RemoteHangup(sip_code=500, reason="worker lost"))
        self._finish_after_hangup()
        return self._end()

    def timer_fired(self, key: TimerKey, now: float) -> list[Action]:
        self._begin(now)
        match key.kind:
            case TimerKind.RING:
                self._require((P.DIALLING,), what="the ring timeout")
                seconds = self.spec.trunk.ring_timeout_seconds
                self._cancel_call(
                    CancelCause.RING_TIMEOUT, f"no answer after {seconds:g} s: sending CANCEL"
                )
            case TimerKind.MAX_DURATION:
                self._require(_ANSWERED, what="the duration limit")
                seconds = self.spec.trunk.max_call_duration_seconds
                self._hang_up(f"maximum call duration of {seconds:g} s reached")
            case TimerKind.HANGUP_GRACE:
                self._require((P.ENDING,), what="the end of the hang-up grace")
                self._finish_after_hangup()
            case TimerKind.TAIL_HANGUP:
                self._require((P.HANGING_UP,), what="the tail hang-up timeout")
                self._out.append("the worker has not hung up: sending the hang-up")
                self._out.append(Send(msg.Hangup(call_id=self.spec.main_leg)))
            case TimerKind.FLOW:
                if self._flow_timers.pop(key.id, None) is None:
                    raise CallProtocolError(self.phase, f"flow timer {key.id} that is not set")
                self._deliver(ev.TimerFired(key.id))
            case TimerKind.LEG_RING:
                self._legs.ring_timeout(key.id, self._out)
            case _:
                assert_never(key.kind)
        return self._end()

    def flow_started(self, run: FlowRunLike, now: float) -> list[Action]:
        """The answer to StartFlow."""
        self._begin(now)
        self._require((P.CONNECTED,), what="a flow start")
        self._flow = run
        self._out.append(f"flow {self.spec.flow_id} started")
        try:
            self._execute(run.start(now))
        except EngineError as exc:
            self._flow_failed(exc)
        else:
            self._drop_answer_prompt()
        return self._end()

    def flow_unavailable(self, error: EngineError, now: float) -> list[Action]:
        """The answer to StartFlow when the flow could not be loaded."""
        self._begin(now)
        self._flow_failed(error)
        return self._end()

    def speech_ready(
        self, playback_id: str, path: str | None, error: str | None, now: float
    ) -> list[Action]:
        """The answer to RenderSpeech: the prompt's file, or why there is none."""
        self._begin(now)
        if playback_id in self._speech_pending:  # else stopped while rendering: already told
            self._speech_pending.discard(playback_id)
            if path is None:
                self._out.append(f"text to speech failed: {error}")
                self._deliver(ev.PlaybackFinished(playback_id, interrupted=True))
            else:
                self._play_audio(cmd.PlayAudio(playback_id, path))
        return self._end()

    def flow_event(self, event: ev.FlowEvent, now: float) -> list[Action]:
        """An event for the flow from the driver's own work (a webhook's answer)."""
        self._begin(now)
        self._deliver(event)
        return self._end()

    # ------------------------------------------------------------------ facts

    @property
    def answered(self) -> bool:
        return self._answered_at is not None

    @property
    def invite_sent_at(self) -> float | None:
        """When the main leg's INVITE left, on the worker's clock."""
        return self._invite_sent_at

    @property
    def api_to_invite_seconds(self) -> float | None:
        return _between(self.spec.requested_at, self._invite_sent_at)

    # ------------------------------------------------------------------ the main leg

    def _main_leg(self, message: CallMessage) -> None:
        match message:
            case msg.InviteSent():
                self._require(_RINGING, what="InviteSent")
                self._invite_sent(message)
            case msg.CallProgress():
                self._require(_RINGING, what="CallProgress")
                if self._ringing_at is None:
                    self._ringing_at = message.progress_at
                    self._out.append(f"ringing ({message.sip_code} {message.reason})")
                    early_media = message.sip_code == 183
                    self._out.append(
                        em.CallRinging(sip_code=message.sip_code, early_media=early_media)
                    )
            case msg.CallAnswered():
                self._answered(message)
            case msg.CallEnded():
                self._main_ended(message)
            case msg.DigitReceived():
                # Digits may come with early media, before the answer.
                self._require(_DIALLED, what="DigitReceived")
                self._digit(message)
            case msg.PlaybackDone():
                self._require(_ANSWERED, what="PlaybackDone")
                playback_id = self._prompts.flow_playback_id(message.playback_id)
                if playback_id is not None:  # else an answer prompt the run did not adopt
                    self._playing.discard(playback_id)
                    self._prompts.playback_ended(playback_id, message.stopped)
                    self._deliver(ev.PlaybackFinished(playback_id, interrupted=message.stopped))
            case msg.RecordingDone():
                self._require(_ANSWERED, what="RecordingDone")
                self._recording_done(message)
            case msg.TransferResult():
                self._require(_ANSWERED, what="TransferResult")
                self._transfers.discard(message.transfer_id)
                self._out.append(f"transfer {message.sip_code} {message.reason}".strip())
                self._deliver(
                    ev.TransferFinished(
                        message.transfer_id, message.accepted, message.sip_code, message.reason
                    )
                )
            case msg.DigitsSent():
                self._require(_ANSWERED, what="DigitsSent")
                self._digits.discard(message.digits_id)
                self._deliver(ev.DigitsSent(message.digits_id, ok=True))
            case msg.CommandFailed():
                self._require(_DIALLED, what="CommandFailed")
                self._command_failed(message)
            case _:
                assert_never(message)

    def _invite_sent(self, message: msg.InviteSent) -> None:
        self._invite_sent_at = message.sent_at or self._now
        self._out.append(f"INVITE sent to {self.spec.trunk.name}")
        self._out.append(
            em.CallInviteSent(
                trunk=self.spec.trunk.name,
                request_uri=self.spec.request_uri,
                worker_id=str(self._worker_id) if self._worker_id is not None else None,
                api_to_invite_seconds=self.api_to_invite_seconds,
                queue_seconds=_between(self.spec.requested_at, self._handed_at),
                worker_pickup_seconds=_between(self._handed_at, message.received_at),
                make_call_seconds=_between(message.received_at, message.sent_at),
            )
        )

    def _answered(self, message: msg.CallAnswered) -> None:
        self._move(Trigger.ANSWER)
        self._answered_at = message.answered_at
        self._out.append(StopTimer(_RING_TIMER))
        self._out.append(RecordState(CallState.CONNECTED))
        self._out.append("answered")
        self._out.append(
            em.CallAnswered(
                post_dial_delay_seconds=_between(self._invite_sent_at, self._ringing_at),
                answer_time_seconds=_between(self._invite_sent_at, self._answered_at),
            )
        )
        limit = self.spec.trunk.max_call_duration_seconds
        self._out.append(StartTimer(_DURATION_TIMER, self._now + limit))
        if CancelCause.API in self._cancels:
            self._hang_up("canceled by API request")
        else:
            self._out.append(StartFlow())

    def _main_ended(self, message: msg.CallEnded) -> None:
        self._require(_DIALLED, what="the main leg's CallEnded")
        self._rtp = message.rtp
        self._ended_at = message.ended_at
        if self._prompts.tail_armed and not message.remote_hangup and self.phase is P.CONNECTED:
            self._run_out_tail_pauses()
        self._move(Trigger.MAIN_ENDED)
        for key in (_RING_TIMER, _DURATION_TIMER, _TAIL_TIMER):
            self._out.append(StopTimer(key))
        self._final_code, self._final_reason = message.sip_code, message.reason
        who = "far end" if message.remote_hangup else "engine"
        self._out.append(f"hang-up by {who}: {message.sip_code} {message.reason}".strip())
        if self._rtp is not None:
            self._out.append(
                f"audio: {self._rtp.packets_sent} RTP packets sent,"
                f" {self._rtp.packets_received} received, {self._rtp.packets_lost} lost"
            )
        self._legs.hang_up_all(self._out)
        if self._flow_running():
            self._deliver(ev.RemoteHangup(sip_code=message.sip_code, reason=message.reason))
            if self._flow_running():
                deadline = self._now + ON_HANGUP_GRACE_SECONDS
                self._out.append(StartTimer(_GRACE_TIMER, deadline))
                return
        self._finish_after_hangup()

    def _run_out_tail_pauses(self) -> None:
        """The worker hung up where the flow's last pauses end: fire their timers now, so the
        flow reaches its hangup step before it hears of the call's end."""
        while self._flow_timers and self._flow_running():
            timer_id = min(self._flow_timers, key=self._flow_timers.__getitem__)
            del self._flow_timers[timer_id]
            self._out.append(StopTimer(TimerKey(TimerKind.FLOW, timer_id)))
            self._deliver(ev.TimerFired(timer_id))

    def _digit(self, message: msg.DigitReceived) -> None:
        self._out.append(f"digit received: {message.digit}")
        if _DTMF_DIGIT.fullmatch(message.digit):
            self._out.append(em.CallDigitReceived(digit=message.digit))
        self._deliver(ev.DigitReceived(message.digit))

    def _recording_done(self, message: msg.RecordingDone) -> None:
        self._out.append(
            f"recording saved: {message.path} ({message.duration_seconds:.1f} s, {message.reason})"
        )
        self._out.append(
            em.RecordingSaved(path=message.path, duration_seconds=message.duration_seconds)
        )
        if self._recordings.pop(message.recording_id, None) is not None:
            self._deliver(
                ev.RecordingFinished(
                    message.recording_id, message.path, message.duration_seconds, message.reason
                )
            )

    def _command_failed(self, message: msg.CommandFailed) -> None:
        """Log it, and tell whoever waits on the command: the flow, or a second leg."""
        self._out.append(f"{message.command} failed: {message.reason}")
        subject = message.subject_id
        if subject is None:
            return
        if message.command == "transfer" and subject in self._transfers:
            self._transfers.discard(subject)
            self._deliver(ev.TransferFinished(subject, False, 0, message.reason))
        elif message.command == "send_digits" and subject in self._digits:
            self._digits.discard(subject)
            self._deliver(ev.DigitsSent(subject, ok=False))
        elif message.command == "start_recording" and subject in self._recordings:
            path = self._recordings.pop(subject)
            self._deliver(ev.RecordingFinished(subject, path, 0.0, "failed"))
        elif message.command == "bridge" and subject in self._legs:
            # The leg is up but not bridged: end it, and its CallEnded tells the flow.
            self._out.append(Send(msg.Hangup(call_id=subject)))
        # A failed PlayFile is also answered with its PlaybackDone, a failed MakeCall with its
        # CallEnded: those end what waits on them.

    # ------------------------------------------------------------------ second legs

    def _second_leg(self, leg_id: str, message: CallMessage) -> None:
        match message:
            case msg.CallAnswered():
                self._deliver(self._legs.answered(leg_id, message, self._out))
            case msg.CallEnded():
                self._deliver(self._legs.ended(leg_id, message, self._now, self._out))
                if self.phase is P.ENDING and not self._legs:
                    self._finish_after_hangup()
            case msg.CommandFailed():
                self._out.append(f"second leg {message.command} failed: {message.reason}")
            case msg.InviteSent() | msg.CallProgress() | msg.DigitReceived():
                pass  # the second leg's progress and digits are not the session's
            case msg.PlaybackDone() | msg.RecordingDone() | msg.TransferResult() | msg.DigitsSent():
                raise CallProtocolError(self.phase, f"{message.type} on a second leg")
            case _:
                assert_never(message)

    # ------------------------------------------------------------------ flow commands

    def _execute(self, commands: list[cmd.FlowCommand]) -> None:
        for command in commands:
            self._command(command)

    def _command(self, command: cmd.FlowCommand) -> None:
        # The commonest first: a class pattern is one isinstance check after another.
        match command:
            case cmd.StepStarted():
                detail = f": {command.detail}" if command.detail else ""
                self._out.append(f"step {command.step} ({command.step_type}) started{detail}")
                self._out.append(em.FlowStepStarted(step=command.step, type=command.step_type))
            case cmd.StepFinished():
                detail = f": {command.detail}" if command.detail else ""
                self._out.append(
                    f"step {command.step} ({command.step_type}) finished: {command.result}{detail}"
                )
                self._out.append(
                    em.FlowStepFinished(
                        step=command.step, type=command.step_type, result=command.result
                    )
                )
            case cmd.SetTimer():
                self._flow_timers[command.timer_id] = command.deadline
                self._out.append(
                    StartTimer(TimerKey(TimerKind.FLOW, command.timer_id), command.deadline)
                )
            case cmd.CancelTimer():
                if self._flow_timers.pop(command.timer_id, None) is not None:
                    self._out.append(StopTimer(TimerKey(TimerKind.FLOW, command.timer_id)))
            case cmd.Speak():
                self._speak(command)
            case cmd.PlayAudio():
                self._play_audio(command)
            case cmd.HangupAfterPlayback():
                # Second legs end with the main one only on the controller's Hangup.
                if not self._legs:
                    self._prompts.hint(command)
            case cmd.Hangup():
                self._flow_hangup(command)
            case cmd.FlowFinished():
                if command.error:
                    self._out.append(f"flow ended with an error: {command.error}")
                else:
                    self._out.append(f"flow finished: {command.result}")
                if self.phase is P.ENDING:
                    self._finish_after_hangup()

            case cmd.StopPlayback():
                self._stop_playback(command)
            case cmd.StartRecording():
                self._start_recording(command)
            case cmd.StopRecording():
                self._out.append(
                    Send(
                        msg.StopRecording(
                            call_id=self.spec.main_leg, recording_id=command.recording_id
                        )
                    )
                )
            case cmd.SendDigits():
                self._send_digits(command)
            case cmd.TransferCall():
                self._transfer(command)
            case cmd.DialLeg():
                refused = self._legs.dial(command, self._media_allowed(), self._now, self._out)
                if refused is not None:
                    self._later.append(refused)
            case cmd.HangupLeg():
                self._legs.hang_up(command, self._out)
            case cmd.CallWebhook():
                self._out.append(f"webhook {command.method} {command.url}")
                self._out.append(RequestWebhook(command))
            case _:
                assert_never(command)

    def _media_allowed(self) -> bool:
        return self.phase is P.CONNECTED

    def _play_audio(self, command: cmd.PlayAudio) -> None:
        if not self._media_allowed():
            self._later.append(ev.PlaybackFinished(command.playback_id, interrupted=True))
            return
        self._playing.add(command.playback_id)
        if self._prompts.adopts(command):
            return
        self._drop_answer_prompt()
        self._out.append(
            Send(
                msg.PlayFile(
                    call_id=self.spec.main_leg,
                    playback_id=command.playback_id,
                    path=command.path,
                    hangup_after_seconds=self._prompts.hangup_after(command.playback_id),
                )
            )
        )

    def _speak(self, command: cmd.Speak) -> None:
        if not self._media_allowed():
            self._later.append(ev.PlaybackFinished(command.playback_id, interrupted=True))
            return
        if self._prompts.adopts(command):
            self._playing.add(command.playback_id)
            return
        self._drop_answer_prompt()  # before this prompt's PlayFile, which may follow at once
        self._speech_pending.add(command.playback_id)
        self._out.append(RenderSpeech(command))

    def _drop_answer_prompt(self) -> None:
        if self._prompts.drop():
            self._out.append("the flow began otherwise than predicted")
            self._out.append(
                Send(msg.StopPlayback(call_id=self.spec.main_leg, playback_id=msg.ANSWER_PROMPT_ID))
            )

    def _stop_playback(self, command: cmd.StopPlayback) -> None:
        if command.playback_id in self._speech_pending:
            self._speech_pending.discard(command.playback_id)
            self._later.append(ev.PlaybackFinished(command.playback_id, interrupted=True))
        elif command.playback_id in self._playing:
            playback_id = self._prompts.worker_playback_id(command.playback_id)
            self._out.append(
                Send(msg.StopPlayback(call_id=self.spec.main_leg, playback_id=playback_id))
            )

    def _start_recording(self, command: cmd.StartRecording) -> None:
        path = str(self.spec.recording_path(command.name))
        if not self._media_allowed():
            self._later.append(ev.RecordingFinished(command.recording_id, path, 0.0, "hangup"))
            return
        self._recordings[command.recording_id] = path
        self._out.append(
            Record(
                msg.StartRecording(
                    call_id=self.spec.main_leg,
                    recording_id=command.recording_id,
                    path=path,
                    max_seconds=command.max_seconds,
                    silence_seconds=command.silence_seconds,
                    beep=command.beep,
                )
            )
        )

    def _send_digits(self, command: cmd.SendDigits) -> None:
        if not self._media_allowed():
            self._later.append(ev.DigitsSent(command.request_id, ok=False))
            return
        self._digits.add(command.request_id)
        self._out.append(
            Send(
                msg.SendDigits(
                    call_id=self.spec.main_leg, digits_id=command.request_id, digits=command.digits
                )
            )
        )

    def _transfer(self, command: cmd.TransferCall) -> None:
        target = self.spec.target_uri(command.target)
        if target is None or not self._media_allowed():
            why = "not a number or SIP URI" if target is None else "the call is over"
            self._later.append(ev.TransferFinished(command.transfer_id, False, 0, why))
            return
        self._transfers.add(command.transfer_id)
        self._out.append(f"transferring to {target}")
        self._out.append(
            Send(
                msg.Transfer(
                    call_id=self.spec.main_leg, transfer_id=command.transfer_id, target_uri=target
                )
            )
        )

    def _flow_hangup(self, command: cmd.Hangup) -> None:
        if self.phase is P.CONNECTED and self._prompts.tail_armed:
            # The worker hangs up by itself when the pauses after the prompt are over.
            self._move(Trigger.HANG_UP)
            self._out.append(f"hanging up: {command.reason}")
            deadline = self._now + TAIL_HANGUP_GRACE_SECONDS
            self._out.append(StartTimer(_TAIL_TIMER, deadline))
            return
        self._hang_up(command.reason)

    # ------------------------------------------------------------------ the end

    def _cancel_call(self, cause: CancelCause, message: str) -> None:
        self._move(Trigger.CANCEL)
        self._cancels.add(cause)
        self._out.append(StopTimer(_RING_TIMER))
        self._out.append(message)
        self._out.append(Send(msg.Hangup(call_id=self.spec.main_leg, sip_code=487)))

    def _hang_up(self, why: str) -> None:
        """Hang up every leg, once; nothing to do once the hang-up is asked for or done."""
        if self.phase is not P.CONNECTED:
            return
        self._move(Trigger.HANG_UP)
        self._out.append(f"hanging up: {why}")
        self._legs.hang_up_all(self._out)
        self._out.append(Send(msg.Hangup(call_id=self.spec.main_leg)))

    def _flow_failed(self, exc: EngineError) -> None:
        self._out.append(f"flow error: {exc}")
        self._hang_up("flow error")

    def _finish_after_hangup(self) -> None:
        if self.phase is P.FINISHED:
            return
        if self._worker_lost:
            # Also when the flow finishes on the RemoteHangup that worker_lost delivers.
            self._finish(Outcome.FAILED, None, "worker lost")
            return
        if self._legs:
            return  # waits for the second legs' CallEnded
        outcome = decide_outcome(
            answered=self.answered, cancels=self._cancels, sip_code=self._final_code
        )
        self._finish(outcome, self._final_code, self._final_reason)

    def _finish(self, outcome: Outcome, sip_code: int | None, reason: str | None) -> None:
        self._move(Trigger.FINISH)
        self._legs.release_unused(self._out)
        detail = f" ({sip_code} {reason})" if sip_code else (f" ({reason})" if reason else "")
        self._out.append(f"outcome: {outcome.value}{detail}")
        self._out.append(RecordOutcome(outcome, sip_code, reason))
        end = self._ended_at or self._now
        rtp = self._rtp
        self._out.append(
            em.CallEnded(
                outcome=outcome,
                sip_code=sip_code,
                sip_reason=reason,
                post_dial_delay_seconds=_between(self._invite_sent_at, self._ringing_at),
                ring_seconds=_between(
                    self._ringing_at or self._invite_sent_at, self._answered_at or end
                )
                if self._invite_sent_at
                else None,
                talk_seconds=_between(self._answered_at, end),
                rtp_packets_sent=rtp.packets_sent if rtp else None,
                rtp_packets_received=rtp.packets_received if rtp else None,
                rtp_packets_lost=rtp.packets_lost if rtp else None,
                rtp_jitter_ms=rtp.jitter_ms if rtp else None,
            )
        )
        self._out.append(
            em.SessionCompleted(outcome=outcome, duration_seconds=self._now - self.spec.created_at)
        )
        self._out.append(Finished())

    # ------------------------------------------------------------------ helpers

    def _begin(self, now: float) -> None:
        """An input starts: nothing of an earlier input the core refused midway is carried
        out with this one."""
        self._now = now
        if self._out or self._later:
            self._out = []
            self._later.clear()

    def _end(self) -> list[Action]:
        while self._later:
            self._deliver(self._later.popleft())
        out, self._out = self._out, []
        return out

    def _move(self, trigger: Trigger) -> None:
        self.phase = next_phase(self.phase, trigger)

    def _require(self, phases: Container[CallPhase], what: str) -> None:
        if self.phase not in phases:
            raise CallProtocolError(self.phase, what)

    def _flow_running(self) -> bool:
        return self._flow is not None and not self._flow.finished

    def _deliver(self, event: ev.FlowEvent) -> None:
        if self._flow is None or self._flow.finished or self.phase is P.FINISHED:
            return  # after the call's end (a webhook's late answer): no step runs on it
        try:
            commands = self._flow.handle(event, self._now)
        except EngineError as exc:
            self._flow_failed(exc)
            return
        self._execute(commands)


def _between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 6)
