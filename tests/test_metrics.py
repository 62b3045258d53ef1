from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine import metrics
from engine.metrics import WorkerStats, register_worker_collector


def families(registry: CollectorRegistry = REGISTRY) -> dict[str, object]:
    text = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_every_engine_metric_is_exported_with_conventional_names() -> None:
    metrics.sessions_total.labels(outcome="busy", trunk="t1").inc()
    metrics.active_calls.labels(trunk="t1").set(2)
    metrics.sip_final_responses_total.labels(code="486").inc()
    metrics.api_to_invite_seconds.observe(0.004)
    metrics.flow_steps_total.labels(flow="f", type="play", result="ok").inc()
    metrics.workers.labels(state="ready").set(1)
    metrics.api_requests_total.labels(route="/sessions", status="201").inc()
    metrics.queued_sessions.labels(trunk="t1").set(0)
    found = families()
    expected = {
        "voice_engine_sessions": "counter",
        "voice_engine_active_calls": "gauge",
        "voice_engine_sip_final_responses": "counter",
        "voice_engine_api_to_invite_seconds": "histogram",
        "voice_engine_post_dial_delay_seconds": "histogram",
        "voice_engine_answer_time_seconds": "histogram",
        "voice_engine_call_duration_seconds": "histogram",
        "voice_engine_flow_steps": "counter",
        "voice_engine_workers": "gauge",
        "voice_engine_worker_restarts": "counter",
        "voice_engine_outbox_depth": "gauge",
        "voice_engine_api_requests": "counter",
        "voice_engine_queued_sessions": "gauge",
    }
    for name, kind in expected.items():
        assert name in found, name
        assert found[name].type == kind, name  # type: ignore[attr-defined]
    sessions = REGISTRY.get_sample_value(
        "voice_engine_sessions_total", {"outcome": "busy", "trunk": "t1"}
    )
    assert sessions is not None and sessions >= 1
    # Millisecond resolution where the engine itself is measured.
    assert REGISTRY.get_sample_value("voice_engine_api_to_invite_seconds_bucket", {"le": "0.005"})


def test_worker_collector_reports_each_worker_at_scrape_time() -> None:
    registry = CollectorRegistry()
    stats = [WorkerStats("1", 3, 26_000_000, 1.5), WorkerStats("2", 0, 24_000_000, 0.25)]
    register_worker_collector(lambda: stats, registry)
    found = families(registry)
    assert found["voice_engine_worker_active_calls"].type == "gauge"  # type: ignore[attr-defined]
    assert found["voice_engine_worker_cpu_seconds"].type == "counter"  # type: ignore[attr-defined]
    assert registry.get_sample_value("voice_engine_worker_active_calls", {"worker": "1"}) == 3
    assert registry.get_sample_value("voice_engine_worker_memory_bytes", {"worker": "2"}) == 24e6
    assert (
        registry.get_sample_value("voice_engine_worker_cpu_seconds_total", {"worker": "1"}) == 1.5
    )
    stats.pop()
    assert registry.get_sample_value("voice_engine_worker_active_calls", {"worker": "2"}) is None
