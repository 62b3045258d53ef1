"""The load report's arithmetic, without SIP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.events import model as em
from engine.sessions.model import Outcome
from engine.tools.loadtest.driver import LoadPlan
from engine.tools.loadtest.records import CallRecord, EventRecorder
from engine.tools.loadtest.report import (
    percentile,
    rtp_summary,
    summarise,
    timeseries,
    write_report,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([], 50) is None


def test_the_schedule_is_absolute() -> None:
    plan = LoadPlan(rate=50, calls=3, flow_id="f", number="+1")
    assert [plan.due(i, 10.0) for i in range(3)] == [10.0, 10.02, 10.04]


def completed(index: int, start: float) -> CallRecord:
    return CallRecord(
        index=index,
        scheduled=start,
        sent=start,
        responded=start + 0.002,
        http_status=200,
        session_id=f"s{index}",
        invite_at=start + 0.005,
        api_to_invite=0.004,
        answered_at=start + 0.010,
        ended_at=start + 3.0,
        outcome="completed",
    )


def test_summary_counts_failures_by_cause_and_series_per_second(tmp_path: Path) -> None:
    records = [completed(i, 100.0 + i * 0.5) for i in range(4)]
    records.append(CallRecord(index=4, scheduled=102.0, sent=102.0, error="http 503 QueueFull"))
    lost = completed(5, 102.5)
    lost.outcome, lost.reason = "failed", "worker lost"
    records.append(lost)
    summary = summarise(records, 100.0, rate=2)
    assert summary["completed"] == 4
    assert summary["failures_by_cause"] == {"http 503 QueueFull": 1, "failed: worker lost": 1}
    assert summary["api_to_invite"]["p50_ms"] == 4.0
    assert summary["setup_latency"]["p99_ms"] == 10.0
    series = timeseries(records, 100.0)
    assert [row["offered"] for row in series[:3]] == [2, 2, 2]
    assert max(row["active"] for row in series) >= 3
    write_report(tmp_path, records, 100.0, 2)
    assert (tmp_path / "report.png").exists()


def emit(recorder: EventRecorder, session_id: str, data: em.EventData) -> None:
    recorder.emit(session_id, data.kind, data)


def invite_sent(api_to_invite_seconds: float) -> em.CallInviteSent:
    return em.CallInviteSent(
        trunk="t", request_uri="sip:+1@h", api_to_invite_seconds=api_to_invite_seconds
    )


def ended(outcome: Outcome, **fields: Any) -> em.CallEnded:
    return em.CallEnded(outcome=outcome, sip_code=None, sip_reason=None, **fields)


def test_the_recorder_fills_a_record_from_engine_events() -> None:
    recorder = EventRecorder()
    emit(recorder, "s1", invite_sent(0.003))
    emit(recorder, "s1", em.CallAnswered())
    emit(
        recorder,
        "s1",
        ended(Outcome.COMPLETED, rtp_packets_sent=150, rtp_packets_received=0, rtp_packets_lost=0),
    )
    record = CallRecord(index=0, scheduled=0.0, sent=0.0, session_id="s1", answered_at=1.0)
    recorder.fill(record)
    assert record.api_to_invite == 0.003
    assert record.outcome == "completed" and not record.failed
    rtp = rtp_summary([record])
    assert (rtp["packets_sent"], rtp["calls_without_audio_both_ways"]) == (150, 1)


def test_the_answered_time_is_the_engine_talk_time_when_it_has_one() -> None:
    # The controller heard of the answer 50 ms late; the worker's clock says 3.0 s of talk.
    recorder = EventRecorder()
    emit(recorder, "s1", em.CallAnswered())
    emit(recorder, "s1", ended(Outcome.COMPLETED, talk_seconds=3.0))
    timed = CallRecord(index=0, scheduled=0.0, sent=0.0, session_id="s1")
    recorder.fill(timed)
    timed.answered_at, timed.ended_at = 10.05, 12.95
    untimed = completed(1, 20.0)  # no talk_seconds: ended_at - answered_at, 2.99 s

    summary = summarise([timed, untimed], 0.0, rate=1)

    assert summary["answered_seconds_mean"] == round((3.0 + 2.99) / 2, 3)


def test_a_spooling_recorder_keeps_only_live_sessions_in_memory(tmp_path: Path) -> None:
    recorder = EventRecorder(spool=tmp_path / "ended.jsonl")
    for session_id in ("s1", "s2"):
        emit(
            recorder,
            session_id,
            em.SessionCreated(flow_id="f", destination="+1", from_address="+2", trunk="t"),
        )
        emit(recorder, session_id, invite_sent(0.002))
        emit(recorder, session_id, em.CallAnswered())
    emit(recorder, "s1", ended(Outcome.COMPLETED, rtp_packets_sent=150))
    emit(recorder, "s1", em.SessionCompleted(outcome=Outcome.COMPLETED, duration_seconds=3.0))
    assert list(recorder.sessions) == ["s2"]
    assert recorder.counts == {"invited": 2, "active": 1, "ended": 1, "failed": 0}
    (tmp_path / "ended.jsonl").unlink()  # another run reusing the folder: ours reads on
    finished = CallRecord(index=0, scheduled=0.0, sent=0.0, session_id="s1")
    live = CallRecord(index=1, scheduled=0.0, sent=0.0, session_id="s2")
    recorder.fill(finished)
    recorder.fill(live)
    assert (finished.outcome, finished.api_to_invite, finished.rtp) == (
        "completed",
        0.002,
        {
            "rtp_packets_sent": 150,
            "rtp_packets_received": None,
            "rtp_packets_lost": None,
            "rtp_jitter_ms": None,
        },
    )
    assert live.outcome is None and live.api_to_invite == 0.002
    emit(recorder, "s2", ended(Outcome.BUSY))
    recorder.fill(live)
    assert live.outcome == "busy" and live.failed
    recorder.close()
