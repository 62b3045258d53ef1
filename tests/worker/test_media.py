"""Audio on an answered call: prompts, recordings and DTMF."""

from __future__ import annotations

import array
import math
import time
import wave
from pathlib import Path

import pytest

from engine.ipc.messages import (
    ANSWER_PROMPT_ID,
    AnswerPrompt,
    CallAnswered,
    CallEnded,
    CommandFailed,
    DigitReceived,
    DigitsSent,
    Hangup,
    PlaybackDone,
    PlayFile,
    RecordingDone,
    SendDigits,
    StartRecording,
    StopPlayback,
)
from engine.tools.sipp.pcaps import SEQUENCE_FILE, sequence_pcap
from engine.tools.sipp.runner import SippUas
from tests.support.worker_process import WorkerProcess
from tests.worker.conftest import answered_call, make_call, trunk

pytestmark = pytest.mark.sip


async def digits(worker: WorkerProcess, count: int) -> str:
    received = [await worker.wait_for(DigitReceived, call_id="c1") for _ in range(count)]
    return "".join(m.digit for m in received)


async def test_dtmf_from_sipp_arrives_in_order(worker: WorkerProcess) -> None:
    with SippUas("uas-send-dtmf") as uas:  # var/pcaps: the default "1#"
        await answered_call(worker, uas)
        assert await digits(worker, 2) == "1#"


async def test_dtmf_does_not_wait_for_the_poll_timeout() -> None:
    # RFC 2833 digits come in RTP, which PJSIP reads on its media thread: nothing SIP ends the
    # wait in libHandleEvents, yet each digit must reach the controller at once.
    async with WorkerProcess(busy_poll_ms=60_000) as worker:
        await worker.send(trunk())
        with SippUas("uas-send-dtmf") as uas:
            await answered_call(worker, uas)
            received = [
                await worker.wait_for(DigitReceived, call_id="c1", timeout=5) for _ in range(2)
            ]
    assert "".join(m.digit for m in received) == "1#"


async def test_dtmf_sequence_with_repeated_digit(worker: WorkerProcess, tmp_path: Path) -> None:
    sequence_pcap("4*47", tmp_path / SEQUENCE_FILE)
    with SippUas("uas-send-dtmf", cwd=tmp_path) as uas:
        await answered_call(worker, uas)
        assert await digits(worker, 4) == "4*47"


async def test_send_digits_echoed_back(worker: WorkerProcess) -> None:
    # SIPp's -rtp_echo returns our RFC 2833 packets, so our own digits come back to us.
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        await answered_call(worker, uas)
        await worker.send(SendDigits(call_id="c1", digits_id="d1", digits="25#"))
        sent = await worker.wait_for(DigitsSent, call_id="c1")
        assert sent.digits_id == "d1"
        assert await digits(worker, 3) == "25#"


async def test_play_file_to_the_end(worker: WorkerProcess, tone_wav: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        await answered_call(worker, uas)
        await worker.send(PlayFile(call_id="c1", playback_id="p1", path=str(tone_wav)))
        done = await worker.wait_for(PlaybackDone, call_id="c1", timeout=5)
        assert (done.playback_id, done.stopped) == ("p1", False)


async def test_the_end_of_a_prompt_does_not_wait_for_the_poll_timeout(tone_wav: Path) -> None:
    # The prompt ends on PJSIP's clock thread; the worker rings its own SIP port to stop
    # waiting in libHandleEvents. Without that this would wait up to a minute.
    async with WorkerProcess(busy_poll_ms=60_000) as worker:
        await worker.send(trunk())
        with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
            await answered_call(worker, uas)
            await worker.send(PlayFile(call_id="c1", playback_id="p1", path=str(tone_wav)))
            done = await worker.wait_for(PlaybackDone, call_id="c1", timeout=10)
            assert (done.playback_id, done.stopped) == ("p1", False)


async def test_a_prompt_that_fixes_the_end_hangs_up_on_its_own(tone_wav: Path) -> None:
    # With a one-minute poll, the hang-up only comes in time if the wait ends when it is due.
    async with WorkerProcess(busy_poll_ms=60_000) as worker:
        await worker.send(trunk())
        with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
            await answered_call(worker, uas)
            await worker.send(
                PlayFile(
                    call_id="c1", playback_id="p1", path=str(tone_wav), hangup_after_seconds=0.5
                )
            )
            await worker.wait_for(PlaybackDone, call_id="c1", timeout=10)
            done_at = time.monotonic()
            ended = await worker.wait_for(CallEnded, call_id="c1", timeout=10)
            assert time.monotonic() - done_at >= 0.45
            assert (ended.answered, ended.remote_hangup, ended.sip_code) == (True, False, 200)


async def test_a_stopped_prompt_does_not_hang_up(worker: WorkerProcess, tone_wav: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        await answered_call(worker, uas)
        await worker.send(
            PlayFile(call_id="c1", playback_id="p1", path=str(tone_wav), hangup_after_seconds=0.0)
        )
        await worker.send(StopPlayback(call_id="c1", playback_id="p1"))
        await worker.wait_for(PlaybackDone, call_id="c1")
        with pytest.raises(AssertionError, match="no CallEnded"):
            await worker.wait_for(CallEnded, call_id="c1", timeout=1.0)


async def test_a_playback_that_cannot_start_still_ends_by_its_id(
    worker: WorkerProcess, tone_wav: Path, tmp_path: Path
) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        await answered_call(worker, uas)
        await worker.send(PlayFile(call_id="c1", playback_id="p1", path=str(tone_wav), loop=True))
        missing = str(tmp_path / "missing.wav")
        await worker.send(PlayFile(call_id="c1", playback_id="p2", path=missing))
        failed = await worker.wait_for(CommandFailed, call_id="c1")
        assert failed.command == "play_file" and "no such file" in failed.reason
        done = await worker.wait_for(PlaybackDone, call_id="c1", timeout=5)
        assert (done.playback_id, done.stopped) == ("p2", True)
        await worker.send(StopPlayback(call_id="c1", playback_id="p1"))
        done = await worker.wait_for(PlaybackDone, call_id="c1", timeout=5)
        assert (done.playback_id, done.stopped) == ("p1", True)


async def test_stop_playback(worker: WorkerProcess, tone_wav: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        await answered_call(worker, uas)
        await worker.send(PlayFile(call_id="c1", playback_id="p1", path=str(tone_wav), loop=True))
        await worker.send(StopPlayback(call_id="c1", playback_id="p1"))
        done = await worker.wait_for(PlaybackDone, call_id="c1")
        assert (done.playback_id, done.stopped) == ("p1", True)


async def test_hangup_during_playback_stops_it_first(worker: WorkerProcess, tone_wav: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        await answered_call(worker, uas)
        await worker.send(PlayFile(call_id="c1", playback_id="p1", path=str(tone_wav), loop=True))
        await worker.send(Hangup(call_id="c1"))
        await worker.wait_for(CallEnded, call_id="c1")
        kinds = [type(m) for m in worker.of_call("c1")]
        assert kinds.index(PlaybackDone) < kinds.index(CallEnded)
        done = await worker.wait_for(PlaybackDone, call_id="c1")
        assert done.stopped


def rms(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))


async def test_recording_of_sipp_audio(worker: WorkerProcess, tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    with SippUas("uas-play-audio") as uas:
        await answered_call(worker, uas)
        await worker.send(
            StartRecording(call_id="c1", recording_id="r1", path=str(path), max_seconds=2.0)
        )
        done = await worker.wait_for(RecordingDone, call_id="c1", timeout=6)
    assert (done.recording_id, done.reason, done.path) == ("r1", "max_length", str(path))
    assert 1.8 <= done.duration_seconds <= 2.4
    assert rms(path) > 300, "the recording is silent"


async def test_a_recording_ends_at_its_length_whatever_the_poll(tmp_path: Path) -> None:
    # Only the clock ends it (no SIP arrives): the worker's wait is short while it records.
    path = tmp_path / "rec.wav"
    async with WorkerProcess(busy_poll_ms=60_000) as worker:
        await worker.send(trunk())
        with SippUas("uas-play-audio") as uas:
            await answered_call(worker, uas)
            await worker.send(
                StartRecording(call_id="c1", recording_id="r1", path=str(path), max_seconds=1.0)
            )
            done = await worker.wait_for(RecordingDone, call_id="c1", timeout=5)
    assert done.reason == "max_length"
    assert 0.8 <= done.duration_seconds <= 1.4


async def test_recording_stops_on_silence(worker: WorkerProcess, tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    # The echo returns our own silence.
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        await answered_call(worker, uas)
        message = StartRecording(
            call_id="c1",
            recording_id="r1",
            path=str(path),
            max_seconds=10,
            silence_seconds=1.0,
            beep=True,
        )
        await worker.send(message)
        done = await worker.wait_for(RecordingDone, call_id="c1", timeout=6)
    assert done.reason == "silence"
    assert 0.8 <= done.duration_seconds <= 2.0


async def test_hangup_ends_recording(worker: WorkerProcess, tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    with SippUas("uas-play-audio") as uas:
        await answered_call(worker, uas)
        await worker.send(
            StartRecording(call_id="c1", recording_id="r1", path=str(path), max_seconds=30)
        )
        await worker.send(Hangup(call_id="c1"))
        done = await worker.wait_for(RecordingDone, call_id="c1")
        await worker.wait_for(CallEnded, call_id="c1")
    assert done.reason == "hangup"
    assert path.exists()


async def test_the_answer_prompt_plays_on_answer_without_a_command(tone_wav: Path) -> None:
    # A one-minute poll: the prompt must start, end and hang up with nothing sent after MakeCall.
    async with WorkerProcess(busy_poll_ms=60_000) as worker:
        await worker.send(trunk())
        with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
            prompt = AnswerPrompt(path=str(tone_wav), hangup_after_seconds=0.2)
            await worker.send(make_call(uas, answer_prompt=prompt))
            await worker.wait_for(CallAnswered, call_id="c1")
            answered_at = time.monotonic()
            done = await worker.wait_for(PlaybackDone, call_id="c1", timeout=10)
            assert (done.playback_id, done.stopped) == (ANSWER_PROMPT_ID, False)
            assert time.monotonic() - answered_at >= 0.9  # the tone is 1 s long
            ended = await worker.wait_for(CallEnded, call_id="c1", timeout=10)
            assert (ended.answered, ended.remote_hangup, ended.sip_code) == (True, False, 200)


async def test_the_answer_prompt_stops_by_its_id(worker: WorkerProcess, tone_wav: Path) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        prompt = AnswerPrompt(path=str(tone_wav), hangup_after_seconds=0.0)
        await worker.send(make_call(uas, answer_prompt=prompt))
        await worker.wait_for(CallAnswered, call_id="c1")
        await worker.send(StopPlayback(call_id="c1", playback_id=ANSWER_PROMPT_ID))
        done = await worker.wait_for(PlaybackDone, call_id="c1", timeout=5)
        assert (done.playback_id, done.stopped) == (ANSWER_PROMPT_ID, True)
        with pytest.raises(AssertionError, match="no CallEnded"):
            await worker.wait_for(CallEnded, call_id="c1", timeout=1.0)


async def test_an_answer_prompt_that_cannot_start_ends_by_its_id(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        prompt = AnswerPrompt(path=str(tmp_path / "missing.wav"))
        await worker.send(make_call(uas, answer_prompt=prompt))
        await worker.wait_for(CallAnswered, call_id="c1")
        failed = await worker.wait_for(CommandFailed, call_id="c1")
        assert failed.command == "play_file" and "no such file" in failed.reason
        done = await worker.wait_for(PlaybackDone, call_id="c1", timeout=5)
        assert (done.playback_id, done.stopped) == (ANSWER_PROMPT_ID, True)
