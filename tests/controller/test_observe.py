"""Metrics derived from events (pure logic, no SIP)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from engine.controller.observe import record_event
from engine.events import model as em
from engine.sessions.model import Outcome


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rtp_packets(direction: str) -> float:
    return sample("voice_engine_rtp_packets_total", {"direction": direction})


def test_ended_calls_add_their_rtp_packets() -> None:
    before = {d: rtp_packets(d) for d in ("sent", "received", "lost")}
    ended = em.CallEnded(outcome=Outcome.COMPLETED, sip_code=200, sip_reason="BYE")
    counted = ended.model_copy(
        update={"rtp_packets_sent": 150, "rtp_packets_received": 148, "rtp_packets_lost": 2}
    )
    record_event("greeting", "main", counted)
    record_event("greeting", "main", ended)
    after = {d: rtp_packets(d) for d in ("sent", "received", "lost")}
    assert {d: after[d] - before[d] for d in after} == {"sent": 150, "received": 148, "lost": 2}


def test_completed_sessions_are_counted_by_outcome_and_trunk() -> None:
    labels = {"outcome": "busy", "trunk": "observe-trunk"}
    before = sample("voice_engine_sessions_total", labels)
    record_event(
        "greeting", "observe-trunk", em.SessionCompleted(outcome=Outcome.BUSY, duration_seconds=2)
    )
    assert sample("voice_engine_sessions_total", labels) - before == 1


def test_finished_steps_are_counted_by_flow_type_and_result() -> None:
    labels = {"flow": "observe-flow", "type": "gather", "result": "no_input"}
    before = sample("voice_engine_flow_steps_total", labels)
    step = em.FlowStepFinished(step="ask", type="gather", result="no_input")
    record_event("observe-flow", "main", step)
    assert sample("voice_engine_flow_steps_total", labels) - before == 1
