"""Metrics derived from events (pure logic, no SIP)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from engine.controller.observe import record_event


def rtp_packets(direction: str) -> float:
    value = REGISTRY.get_sample_value("voice_engine_rtp_packets_total", {"direction": direction})
    return value or 0.0


def test_ended_calls_add_their_rtp_packets() -> None:
    before = {d: rtp_packets(d) for d in ("sent", "received", "lost")}
    ended = {"outcome": "completed", "sip_code": 200, "talk_seconds": 3.0}
    record_event(
        "greeting",
        "main",
        "call.ended",
        ended | {"rtp_packets_sent": 150, "rtp_packets_received": 148, "rtp_packets_lost": 2},
    )
    record_event("greeting", "main", "call.ended", ended | {"rtp_packets_sent": None})
    after = {d: rtp_packets(d) for d in ("sent", "received", "lost")}
    assert {d: after[d] - before[d] for d in after} == {"sent": 150, "received": 148, "lost": 2}
