"""Every IPC message survives the wire; a line that is none of them is refused clearly."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from engine.errors import EngineError
from engine.ipc import messages as m
from engine.ipc.codec import UndecodableMessage, decode_from_worker, decode_to_worker, encode

TO_WORKER_SAMPLES: list[m.Message] = [
    m.MakeCall(
        call_id="c1",
        session_id="s1",
        request_uri="sip:+18144043093@127.0.0.1:5070",
        from_uri="sip:+12025550143@127.0.0.1",
        headers={"X-Campaign": "spring"},
        trunk="sipp",
        answer_prompt=m.AnswerPrompt(path="/tmp/hello.wav", hangup_after_seconds=1.5),
    ),
    m.ConfigureTrunk(
        name="sipp",
        registrar_uri="sip:127.0.0.1:5070",
        id_uri="sip:engine@127.0.0.1",
        username="alice",
        password="secret",
        realm="example.org",
        register_expires=60,
        transport="tcp",
    ),
    m.Hangup(call_id="c1", sip_code=486),
    m.PlayFile(
        call_id="c1", playback_id="playback-1", path="/tmp/a.wav", loop=True, hangup_after_seconds=0
    ),
    m.StopPlayback(call_id="c1", playback_id="playback-1"),
    m.StartRecording(
        call_id="c1",
        recording_id="recording-1",
        path="/tmp/r.wav",
        max_seconds=30,
        silence_seconds=2.5,
        beep=True,
    ),
    m.StopRecording(call_id="c1", recording_id="recording-1"),
    m.SendDigits(call_id="c1", digits_id="digits-1", digits="12*#"),
    m.Transfer(call_id="c1", transfer_id="transfer-1", target_uri="sip:+15550001111@127.0.0.1"),
    m.Bridge(call_id="c1", other_call_id="c2"),
    m.Shutdown(),
    m.StatsRequest(),
]

FROM_WORKER_SAMPLES: list[m.Message] = [
    m.Ready(worker_id=3, sip_port=5062, pid=4242),
    m.InviteSent(call_id="c1", received_at=10.25, sent_at=10.5),
    m.CallProgress(call_id="c1", sip_code=183, reason="Session Progress", progress_at=11.0),
    m.CallAnswered(call_id="c1", answered_at=12.0),
    m.CallEnded(
        call_id="c1",
        sip_code=200,
        reason="Normal call clearing",
        answered=True,
        remote_hangup=True,
        rtp=m.RtpCounts(packets_sent=150, packets_received=149, packets_lost=1, jitter_ms=0.5),
        ended_at=15.0,
    ),
    m.DigitReceived(call_id="c1", digit="#", received_at=13.0),
    m.PlaybackDone(call_id="c1", playback_id="playback-1", stopped=True),
    m.RecordingDone(
        call_id="c1",
        recording_id="recording-1",
        path="/tmp/r.wav",
        duration_seconds=2.04,
        reason="silence",
    ),
    m.TransferResult(
        call_id="c1", transfer_id="transfer-1", accepted=False, sip_code=603, reason="Decline"
    ),
    m.DigitsSent(call_id="c1", digits_id="digits-1"),
    m.CommandFailed(
        call_id="c1", command="transfer", subject_id="transfer-1", reason="not answered"
    ),
    m.Stats(active_calls=2, rss_bytes=48_000_000, cpu_seconds=1.25),
]


def members(union: Any) -> list[type[m.Message]]:
    """The message classes of an `Annotated[A | B | ..., Field(discriminator=...)]` union."""
    (members_union, *_) = get_args(union)
    return list(get_args(members_union))


@pytest.mark.parametrize(
    ("union", "samples"),
    [(m.ToWorker, TO_WORKER_SAMPLES), (m.FromWorker, FROM_WORKER_SAMPLES)],
    ids=["to worker", "from worker"],
)
def test_every_message_type_has_a_sample(union: Any, samples: list[m.Message]) -> None:
    kinds = members(union)
    assert len(kinds) > 1
    missing = [kind.__name__ for kind in kinds if not any(type(s) is kind for s in samples)]
    assert missing == [], f"add a sample of each to tests/ipc/test_codec.py: {missing}"


@pytest.mark.parametrize("sample", TO_WORKER_SAMPLES, ids=lambda s: type(s).__name__)
def test_a_message_to_the_worker_round_trips(sample: m.Message) -> None:
    line = encode(sample)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    decoded = decode_to_worker(line)
    assert type(decoded) is type(sample)
    assert decoded == sample


@pytest.mark.parametrize("sample", FROM_WORKER_SAMPLES, ids=lambda s: type(s).__name__)
def test_a_message_from_the_worker_round_trips(sample: m.Message) -> None:
    decoded = decode_from_worker(encode(sample))
    assert type(decoded) is type(sample)
    assert decoded == sample


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"type": "dial"}', "does not match any of the expected tags"),
        (b'{"call_id": "c1"}', "Unable to extract tag using discriminator 'type'"),
        (b'{"type": "hangup"}', "hangup.call_id: Field required"),
        (b'{"type": "hangup", "call_id": "c1", "cause": 1}', "hangup.cause: Extra inputs"),
    ],
    ids=["not json", "unknown type", "no type", "a field missing", "a field unknown"],
)
def test_an_undecodable_line_is_refused_with_what_is_wrong(line: bytes, problem: str) -> None:
    with pytest.raises(UndecodableMessage) as refused:
        decode_to_worker(line)
    assert problem in refused.value.problem
    assert str(refused.value).startswith("undecodable message: ")
    assert repr(line) in str(refused.value)
    assert isinstance(refused.value, EngineError)
    assert isinstance(refused.value, ValueError)  # what the pool's reader catches


def test_a_message_for_the_other_direction_is_refused() -> None:
    with pytest.raises(UndecodableMessage, match="does not match any of the expected tags"):
        decode_from_worker(encode(m.Hangup(call_id="c1")))
