"""The call core without a loop, a worker or a clock: every phase, every outcome, the hang-up at
each phase, and commands that fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.controller.call.actions import (
    Finished,
    PlaceLeg,
    RecordOutcome,
    RecordState,
    StartFlow,
    StartTimer,
    TimerKey,
    TimerKind,
)
from engine.controller.call.core import ON_HANGUP_GRACE_SECONDS
from engine.controller.call.phase import CallPhase, CallProtocolError
from engine.events import model as em
from engine.flow.model import Flow
from engine.ipc import messages as msg
from engine.sessions.model import CallState, Outcome
from tests.controller.call.harness import MAIN, START, TRUNK, Harness
from tests.flow.helpers import flow_from

P = CallPhase


def hold_flow(tmp_path: Path) -> Flow:
    return flow_from(tmp_path, {"wait": {"type": "pause", "seconds": 60}})


def flow(tmp_path: Path, **steps: dict[str, Any]) -> Flow:
    return flow_from(tmp_path, steps)


def connected(tmp_path: Path, the_flow: Flow | None = None, **harness: Any) -> Harness:
    call = Harness(flow=the_flow or hold_flow(tmp_path), **harness)
    call.dial_and_answer()
    return call


def phase_of(call: Harness) -> CallPhase:
    return call.core.phase


# ---------------------------------------------------------------------- before the answer


def test_placing_records_ringing_sends_the_invite_and_starts_the_ring_timer() -> None:
    call = Harness()
    actions = call.place()
    assert actions[0] == RecordState(CallState.RINGING)
    make_call = call.last_sent(msg.MakeCall)
    assert isinstance(actions[1], PlaceLeg) and actions[1].make_call is make_call
    assert make_call.call_id == MAIN
    assert make_call.request_uri == TRUNK.request_uri("+18144043093")
    assert make_call.from_uri == "sip:+12025550143@127.0.0.1"
    assert make_call.answer_prompt is None
    assert actions[2] == StartTimer(TimerKey(TimerKind.RING), START + TRUNK.ring_timeout_seconds)
    assert phase_of(call) is P.DIALLING


def test_the_invite_and_the_ringing_are_logged_and_emitted_once() -> None:
    call = Harness()
    call.place()
    call.now += 0.002
    call.worker(msg.InviteSent(call_id=MAIN, received_at=START + 0.001, sent_at=call.now))
    call.ringing(183)
    call.ringing(180)
    invite = call.events(em.CallInviteSent)[0]
    assert invite.worker_id == "7"
    assert invite.queue_seconds == 0.01
    assert invite.worker_pickup_seconds == 0.001
    assert invite.make_call_seconds == 0.001
    assert invite.api_to_invite_seconds == 0.012
    assert call.events(em.CallRinging) == [em.CallRinging(sip_code=183, early_media=True)]
    assert call.log() == ["INVITE sent to sipp", "ringing (183 Ringing)"]


@pytest.mark.parametrize(
    ("sip_code", "outcome"),
    [
        (486, Outcome.BUSY),
        (603, Outcome.REJECTED),
        (480, Outcome.NO_ANSWER),
        (404, Outcome.FAILED),
    ],
)
def test_a_final_answer_before_the_answer_decides_the_outcome(
    sip_code: int, outcome: Outcome
) -> None:
    call = Harness()
    call.place()
    call.ringing()
    call.ended(sip_code, "No")
    assert call.outcome() == RecordOutcome(outcome, sip_code, "No")
    assert phase_of(call) is P.FINISHED
    assert call.kinds()[-2:] == ["call.ended", "session.completed"]
    ended = call.events(em.CallEnded)[0]
    assert (ended.outcome, ended.sip_code, ended.talk_seconds) == (outcome, sip_code, None)
    assert f"outcome: {outcome.value} ({sip_code} No)" in call.log()
    assert call.timers == {}


def test_the_ring_timeout_cancels_and_ends_as_no_answer() -> None:
    call = Harness()
    call.place()
    call.fire(TimerKind.RING)
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=MAIN, sip_code=487)
    assert phase_of(call) is P.CANCELLING
    assert "no answer after 30 s: sending CANCEL" in call.log()
    call.ended(487, "Request Terminated", remote=False)
    assert call.outcome().outcome is Outcome.NO_ANSWER


def test_an_api_cancel_while_dialling_ends_as_canceled() -> None:
    call = Harness()
    call.place()
    call.end()
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=MAIN, sip_code=487)
    assert TimerKey(TimerKind.RING) not in call.timers
    call.end()  # a second DELETE changes nothing
    assert len(call.sent(msg.Hangup)) == 1
    call.ended(487, "Request Terminated", remote=False)
    assert call.outcome() == RecordOutcome(Outcome.CANCELED, 487, "Request Terminated")


def test_an_answer_that_crossed_the_api_cancel_is_hung_up_without_a_flow(
    tmp_path: Path,
) -> None:
    call = Harness(flow=hold_flow(tmp_path))
    call.place()
    call.end()
    call.worker(msg.CallAnswered(call_id=MAIN, answered_at=call.now))
    assert not [a for a in call.actions if isinstance(a, StartFlow)]
    assert call.log()[-1] == "hanging up: canceled by API request"
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=MAIN)
    call.ended(remote=False)
    assert call.outcome().outcome is Outcome.COMPLETED


def test_an_answer_that_crossed_the_ring_timeout_runs_the_flow(tmp_path: Path) -> None:
    call = Harness(flow=hold_flow(tmp_path))
    call.place()
    call.fire(TimerKind.RING)
    call.worker(msg.CallAnswered(call_id=MAIN, answered_at=call.now))
    assert phase_of(call) is P.CONNECTED
    assert "flow test started" in call.log()


@pytest.mark.parametrize("answer_crosses", [False, True])
def test_an_api_cancel_after_the_ring_timeout(tmp_path: Path, answer_crosses: bool) -> None:
    call = Harness(flow=hold_flow(tmp_path))
    call.place()
    call.fire(TimerKind.RING)
    call.end()
    assert call.log()[-1] == "canceled by API request: CANCEL already sent"
    assert len(call.sent(msg.Hangup)) == 1
    if not answer_crosses:
        call.ended(487, "Request Terminated", remote=False)
        assert call.outcome().outcome is Outcome.NO_ANSWER
        return
    call.worker(msg.CallAnswered(call_id=MAIN, answered_at=call.now))
    assert not [a for a in call.actions if isinstance(a, StartFlow)]
    assert call.log()[-1] == "hanging up: canceled by API request"


def test_a_queued_call_can_be_canceled_or_failed() -> None:
    canceled = Harness()
    canceled._carry_out(canceled.core.cancel_queued(START))
    assert canceled.outcome() == RecordOutcome(Outcome.CANCELED, None, "canceled before dialling")
    failed = Harness()
    failed._carry_out(failed.core.fail_before_placing("no SIP worker available: x", START))
    assert failed.outcome() == RecordOutcome(Outcome.FAILED, None, "no SIP worker available: x")
    assert failed.log() == ["outcome: failed (no SIP worker available: x)"]
    completed = failed.events(em.SessionCompleted)[0]
    assert completed.duration_seconds == pytest.approx(0.01)


def test_early_media_digits_are_reported_before_the_answer() -> None:
    call = Harness()
    call.place()
    call.worker(msg.DigitReceived(call_id=MAIN, digit="5"))
    assert call.events(em.CallDigitReceived) == [em.CallDigitReceived(digit="5")]


# ---------------------------------------------------------------------- the answer and the flow


def test_the_answer_records_connected_emits_and_starts_the_flow(tmp_path: Path) -> None:
    call = connected(tmp_path)
    answered = call.events(em.CallAnswered)[0]
    assert answered.post_dial_delay_seconds == 0.0
    assert answered.answer_time_seconds == 1.0
    assert RecordState(CallState.CONNECTED) in call.actions
    deadline = call.timers[TimerKey(TimerKind.MAX_DURATION)]
    assert deadline == call.now + TRUNK.max_call_duration_seconds
    assert call.log()[-3:] == ["answered", "flow test started", "step wait (pause) started: 60 s"]
    assert len(call.flow_timer_ids()) == 1


def test_a_flow_that_plays_then_hangs_up_lets_the_worker_end_the_call(tmp_path: Path) -> None:
    the_flow = flow(
        tmp_path,
        hello={"type": "play", "file": str(tone(tmp_path)), "next": "done"},
        done={"type": "hangup", "reason": "all said"},
    )
    call = connected(tmp_path, the_flow)
    play = call.last_sent(msg.PlayFile)
    assert play.hangup_after_seconds == 0.0  # nothing but the hang-up after the prompt
    call.playback_done(play.playback_id)
    assert call.sent(msg.Hangup) == []  # the worker hangs up by itself
    assert phase_of(call) is P.HANGING_UP
    assert TimerKey(TimerKind.TAIL_HANGUP) in call.timers
    call.ended(remote=False)
    assert call.outcome() == RecordOutcome(Outcome.COMPLETED, 200, "BYE")
    log = call.log()
    assert log.index("hanging up: all said") + 1 == log.index("hang-up by engine: 200 BYE")
    steps = [(e.step, e.result) for e in call.events(em.FlowStepFinished)]
    assert steps == [("hello", "ok"), ("done", "ok")]


def test_the_controller_hangs_up_when_the_worker_does_not(tmp_path: Path) -> None:
    the_flow = flow(
        tmp_path,
        hello={"type": "play", "file": str(tone(tmp_path)), "next": "done"},
        done={"type": "hangup"},
    )
    call = connected(tmp_path, the_flow)
    call.playback_done(call.last_sent(msg.PlayFile).playback_id)
    call.fire(TimerKind.TAIL_HANGUP)
    assert call.sent(msg.Hangup) == [msg.Hangup(call_id=MAIN)]
    assert call.log()[-1] == "the worker has not hung up: sending the hang-up"


def test_a_stopped_prompt_does_not_arm_the_tail(tmp_path: Path) -> None:
    the_flow = flow(
        tmp_path,
        hello={"type": "play", "file": str(tone(tmp_path)), "next": "done"},
        done={"type": "hangup"},
    )
    call = connected(tmp_path, the_flow)
    call.playback_done(call.last_sent(msg.PlayFile).playback_id, stopped=True)
    assert call.sent(msg.Hangup) == [msg.Hangup(call_id=MAIN)]


def test_the_worker_hanging_up_after_the_prompt_runs_out_the_flows_pauses(
    tmp_path: Path,
) -> None:
    the_flow = flow(
        tmp_path,
        hello={"type": "play", "file": str(tone(tmp_path)), "next": "wait"},
        wait={"type": "pause", "seconds": 0.4, "next": "done"},
        done={"type": "hangup", "reason": "bye"},
    )
    call = connected(tmp_path, the_flow)
    play = call.last_sent(msg.PlayFile)
    assert play.hangup_after_seconds == 0.4
    call.playback_done(play.playback_id)
    call.now += 0.4  # the worker hangs up before the controller's pause timer fires
    call.ended(remote=False)
    log = call.log()
    assert log.index("step wait (pause) finished: ok") < log.index("hanging up: bye")
    assert log.index("hanging up: bye") < log.index("hang-up by engine: 200 BYE")
    assert call.outcome().outcome is Outcome.COMPLETED


def test_a_flow_that_cannot_be_loaded_hangs_up(tmp_path: Path) -> None:
    call = Harness(flow=None)
    call.dial_and_answer()
    assert call.log()[-2:] == ["flow error: no flow named 'test'", "hanging up: flow error"]
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=MAIN)


def test_the_far_end_hanging_up_runs_on_hangup_within_the_grace(tmp_path: Path) -> None:
    call = connected(tmp_path, flow_with_on_hangup(tmp_path))
    call.ended(remote=True)
    assert phase_of(call) is P.ENDING
    assert call.timers[TimerKey(TimerKind.HANGUP_GRACE)] == call.now + ON_HANGUP_GRACE_SECONDS
    assert len(call.webhooks) == 1
    assert "hang-up by far end: 200 BYE" in call.log()
    call.webhook_answered(call.webhooks[0].request_id)
    assert call.outcome().outcome is Outcome.COMPLETED


def test_on_hangup_steps_that_outlast_the_grace_are_cut(tmp_path: Path) -> None:
    call = connected(tmp_path, flow_with_on_hangup(tmp_path))
    call.ended(remote=True)
    call.fire(TimerKind.HANGUP_GRACE)
    assert call.outcome() == RecordOutcome(Outcome.COMPLETED, 200, "BYE")


def test_the_duration_limit_hangs_up(tmp_path: Path) -> None:
    call = connected(tmp_path)
    call.fire(TimerKind.MAX_DURATION)
    assert "hanging up: maximum call duration of 600 s reached" in call.log()
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=MAIN)


# ---------------------------------------------------------------------- the hang-up at each phase


def test_an_api_hang_up_of_a_connected_call_is_sent_once(tmp_path: Path) -> None:
    call = connected(tmp_path)
    call.end()
    call.end()
    assert call.sent(msg.Hangup) == [msg.Hangup(call_id=MAIN)]
    assert "hanging up: hung up by API request" in call.log()
    call.ended(remote=False)
    call.end()
    assert call.outcome().outcome is Outcome.COMPLETED


def test_an_api_hang_up_of_a_queued_call_is_a_protocol_error() -> None:
    call = Harness()
    with pytest.raises(CallProtocolError):
        call.end()


@pytest.mark.parametrize("cancel_first", [False, True])
def test_the_far_end_may_end_the_call_before_the_answer(cancel_first: bool) -> None:
    call = Harness()
    call.place()
    if cancel_first:
        call.end()
    call.ended(603, "Decline")
    expected = Outcome.CANCELED if cancel_first else Outcome.REJECTED
    assert call.outcome().outcome is expected


@pytest.mark.parametrize("phase", [P.DIALLING, P.CANCELLING, P.CONNECTED, P.HANGING_UP, P.ENDING])
def test_a_lost_worker_fails_the_call_in_any_phase(tmp_path: Path, phase: CallPhase) -> None:
    call = Harness(flow=flow_with_on_hangup(tmp_path))
    call.place()
    if phase is P.CANCELLING:
        call.end()
    if phase in (P.CONNECTED, P.HANGING_UP, P.ENDING):
        call.worker(msg.CallAnswered(call_id=MAIN, answered_at=call.now))
    if phase is P.HANGING_UP:
        call.end()
    if phase is P.ENDING:
        call.ended(remote=True)
    assert phase_of(call) is phase
    call.lost()
    assert call.outcome() == RecordOutcome(Outcome.FAILED, None, "worker lost")
    assert "worker lost" in call.log()
    assert call.timers == {}


@pytest.mark.parametrize("phase", [P.QUEUED, P.FINISHED])
def test_a_lost_worker_cannot_concern_a_call_without_one(phase: CallPhase) -> None:
    call = Harness()
    if phase is P.FINISHED:
        call._carry_out(call.core.cancel_queued(START))
    with pytest.raises(CallProtocolError):
        call.lost()


# ---------------------------------------------------------------------- protocol errors


def test_messages_out_of_their_phase_raise_and_change_nothing(tmp_path: Path) -> None:
    call = Harness(flow=hold_flow(tmp_path))
    with pytest.raises(CallProtocolError, match="queued"):
        call.worker(msg.CallAnswered(call_id=MAIN, answered_at=START))
    call.place()
    with pytest.raises(CallProtocolError, match="PlaybackDone"):
        call.playback_done("playback-1")
    with pytest.raises(CallProtocolError, match="unknown leg"):
        call.worker(msg.CallAnswered(call_id="s-1.zz", answered_at=START))
    assert phase_of(call) is P.DIALLING
    call.worker(msg.CallAnswered(call_id=MAIN, answered_at=START))
    with pytest.raises(CallProtocolError, match="InviteSent"):
        call.worker(msg.InviteSent(call_id=MAIN))
    with pytest.raises(CallProtocolError, match="ring timeout"):
        call._carry_out(call.core.timer_fired(TimerKey(TimerKind.RING), call.now))
    with pytest.raises(CallProtocolError, match="not set"):
        call._carry_out(call.core.timer_fired(TimerKey(TimerKind.FLOW, "timer-99"), call.now))
    call.ended()
    with pytest.raises(CallProtocolError):
        call.ended()
    assert call.outcome().outcome is Outcome.COMPLETED


# ---------------------------------------------------------------------- failed commands


def test_a_transfer_that_fails_in_the_worker_takes_on_failure(tmp_path: Path) -> None:
    the_flow = flow(
        tmp_path,
        move={"type": "transfer", "target": "+12025550177", "on_failure": "sorry"},
        sorry={"type": "hangup", "reason": "transfer failed"},
    )
    call = connected(tmp_path, the_flow)
    transfer = call.last_sent(msg.Transfer)
    assert transfer.target_uri == TRUNK.request_uri("+12025550177")
    call.worker(
        msg.CommandFailed(
            call_id=MAIN,
            command="transfer",
            subject_id=transfer.transfer_id,
            reason="call s-1.a is not answered",
        )
    )
    steps = [(e.step, e.result) for e in call.events(em.FlowStepFinished)]
    assert steps == [("move", "failed"), ("sorry", "ok")]
    assert "transfer failed: call s-1.a is not answered" in call.log()
    assert call.last_sent(msg.Hangup) == msg.Hangup(call_id=MAIN)


def test_a_transfer_result_reaches_its_step(tmp_path: Path) -> None:
    the_flow = flow(tmp_path, move={"type": "transfer", "target": "sip:agent@example.org"})
    call = connected(tmp_path, the_flow)
    transfer = call.last_sent(msg.Transfer)
    call.worker(
        msg.TransferResult(
            call_id=MAIN,
            transfer_id=transfer.transfer_id,
            accepted=True,
            sip_code=202,
            reason="Accepted",
        )
    )
    assert [(e.step, e.result) for e in call.events(em.FlowStepFinished)] == [("move", "ok")]
    assert "transfer 202 Accepted" in call.log()


@pytest.mark.parametrize("worker_says", ["sent", "failed"])
def test_digits_are_sent_when_the_worker_says_so(tmp_path: Path, worker_says: str) -> None:
    call = connected(tmp_path, flow(tmp_path, keys={"type": "send_digits", "digits": "12#"}))
    request = call.last_sent(msg.SendDigits)
    assert call.events(em.FlowStepFinished) == []
    if worker_says == "sent":
        call.worker(msg.DigitsSent(call_id=MAIN, digits_id=request.digits_id))
    else:
        call.worker(
            msg.CommandFailed(
                call_id=MAIN, command="send_digits", subject_id=request.digits_id, reason="no"
            )
        )
    result = "ok" if worker_says == "sent" else "failed"
    assert [(e.step, e.result) for e in call.events(em.FlowStepFinished)] == [("keys", result)]


def test_a_recording_that_cannot_start_fails_its_step_at_once(tmp_path: Path) -> None:
    call = connected(tmp_path, flow(tmp_path, rec={"type": "record", "max_seconds": 30}))
    start = call.last_sent(msg.StartRecording)
    assert start.path.startswith("/rec/s-1/rec-")
    call.worker(
        msg.CommandFailed(
            call_id=MAIN,
            command="start_recording",
            subject_id=start.recording_id,
            reason="call s-1.a has no active audio",
        )
    )
    assert [(e.step, e.result) for e in call.events(em.FlowStepFinished)] == [("rec", "failed")]


def test_a_finished_recording_is_logged_emitted_and_given_to_its_step(tmp_path: Path) -> None:
    call = connected(tmp_path, flow(tmp_path, rec={"type": "record", "max_seconds": 30}))
    start = call.last_sent(msg.StartRecording)
    call.worker(
        msg.RecordingDone(
            call_id=MAIN,
            recording_id=start.recording_id,
            path=start.path,
            duration_seconds=4.25,
            reason="stopped",
        )
    )
    assert call.events(em.RecordingSaved) == [
        em.RecordingSaved(path=start.path, duration_seconds=4.25)
    ]
    assert f"recording saved: {start.path} (4.2 s, stopped)" in call.log()
    assert [(e.step, e.result) for e in call.events(em.FlowStepFinished)] == [("rec", "ok")]


def test_a_play_that_fails_is_answered_by_its_playback_done(tmp_path: Path) -> None:
    the_flow = flow(tmp_path, hello={"type": "play", "file": str(tone(tmp_path))})
    call = connected(tmp_path, the_flow)
    play = call.last_sent(msg.PlayFile)
    call.worker(
        msg.CommandFailed(
            call_id=MAIN, command="play_file", subject_id=play.playback_id, reason="no such file"
        )
    )
    assert call.events(em.FlowStepFinished) == []
    call.playback_done(play.playback_id, stopped=True)
    assert [(e.step, e.result) for e in call.events(em.FlowStepFinished)] == [("hello", "ok")]


def test_a_prompt_asked_for_after_the_hang_up_is_over_at_once(tmp_path: Path) -> None:
    # The API hangs up during the pause; the pause ends before the far end's BYE, and the
    # flow's next prompt must end at once, without reaching the worker.
    the_flow = flow(
        tmp_path,
        wait={"type": "pause", "seconds": 1, "next": "hello"},
        hello={"type": "play", "file": str(tone(tmp_path))},
    )
    call = connected(tmp_path, the_flow)
    call.end()
    call.fire_flow_timer()
    assert call.sent(msg.PlayFile) == []
    steps = [(e.step, e.result) for e in call.events(em.FlowStepFinished)]
    assert steps == [("wait", "ok"), ("hello", "ok")]


# ---------------------------------------------------------------------- the end


def test_finishing_emits_the_call_and_session_events_then_finished(tmp_path: Path) -> None:
    call = connected(tmp_path)
    call.now += 3
    call.ended(remote=True)
    assert isinstance(call.actions[-1], Finished)
    ended = call.events(em.CallEnded)[0]
    assert ended.talk_seconds == 3.0
    assert ended.ring_seconds == 1.0
    completed = call.events(em.SessionCompleted)[0]
    assert completed.duration_seconds == pytest.approx(4.01)


# ---------------------------------------------------------------------- helpers


def flow_with_on_hangup(tmp_path: Path) -> Flow:
    return flow_from(
        tmp_path,
        {
            "wait": {"type": "pause", "seconds": 60},
            "notify": {"type": "webhook", "url": "http://127.0.0.1:9/hook"},
        },
        on_hangup="notify",
    )


def tone(tmp_path: Path) -> Path:
    import wave

    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 800)
    return path


def test_nothing_runs_after_a_lost_workers_call_is_finished(tmp_path: Path) -> None:
    """A lost worker finishes the call at once, on_hangup steps or not: a webhook's answer
    that comes later does not run the steps after it."""
    flow = flow_from(
        tmp_path,
        {
            "wait": {"type": "pause", "seconds": 60},
            "notify": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "next": "again"},
            "again": {"type": "webhook", "url": "http://127.0.0.1:9/again"},
        },
        on_hangup="notify",
    )
    call = Harness(flow=flow)
    call.dial_and_answer()
    call.lost()
    assert call.outcome() == RecordOutcome(Outcome.FAILED, None, "worker lost")
    assert [w.url for w in call.webhooks] == ["http://127.0.0.1:9/hook"]
    finished = len(call.actions)
    call.webhook_answered(call.webhooks[0].request_id)
    assert call.actions[finished:] == []
    assert len(call.webhooks) == 1
