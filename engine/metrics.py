"""Every Prometheus metric the engine exports, defined in one place.

Names follow Prometheus conventions: a `voice_engine_` prefix, base units (seconds, bytes),
counters ending in `_total` (prometheus_client appends it), gauges without a suffix. Labels are
bounded sets (trunk names, SIP codes, outcome values, flow ids, step types, route templates):
never put a session id, phone number or raw URL path in a label.

Numbers that live in worker processes (memory, CPU) are not pushed: the controller registers a
collector (`register_worker_collector`) that asks for them at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Sessions and calls

sessions_total = Counter(
    "voice_engine_sessions_total", "Sessions finished, by outcome and trunk", ["outcome", "trunk"]
)
sessions_refused_total = Counter(
    "voice_engine_sessions_refused_total",
    "NewOutgoingSession requests answered 503, by reason: queue_full, overloaded, shutting_down",
    ["reason"],
)
active_calls = Gauge("voice_engine_active_calls", "Calls in progress (INVITE sent)", ["trunk"])
queued_sessions = Gauge(
    "voice_engine_queued_sessions", "Sessions waiting for trunk or worker capacity", ["trunk"]
)
sip_final_responses_total = Counter(
    "voice_engine_sip_final_responses_total", "Final SIP responses to our INVITEs", ["code"]
)
rtp_packets_total = Counter(
    "voice_engine_rtp_packets_total",
    "RTP packets of ended calls' main legs: sent, received, and lost (gaps in what arrived)",
    ["direction"],
)

# Latencies. Buckets start at 1 ms where the engine itself is measured, at 100 ms where the
# network and the far end are.

api_to_invite_seconds = Histogram(
    "voice_engine_api_to_invite_seconds",
    "Time from the API accepting a session to its INVITE leaving the worker",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
post_dial_delay_seconds = Histogram(
    "voice_engine_post_dial_delay_seconds",
    "Time from INVITE to the first 180/183",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0),
)
answer_time_seconds = Histogram(
    "voice_engine_answer_time_seconds",
    "Time from INVITE to 200 OK, for answered calls",
    buckets=(0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0),
)
call_duration_seconds = Histogram(
    "voice_engine_call_duration_seconds",
    "Talk time, from answer to hang-up",
    buckets=(1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
)

# Flows

flow_steps_total = Counter(
    "voice_engine_flow_steps_total", "Flow steps finished", ["flow", "type", "result"]
)

# Workers

workers = Gauge("voice_engine_workers", "SIP worker processes, by state", ["state"])
worker_restarts_total = Counter(
    "voice_engine_worker_restarts_total", "SIP worker processes restarted after dying"
)

# Events

event_relay_restarts_total = Counter(
    "voice_engine_event_relay_restarts_total",
    "Event relay processes (the MQTT publisher) started again after dying",
)

outbox_depth = Gauge("voice_engine_outbox_depth", "Events stored and not yet delivered to MQTT")
events_emitted_total = Counter("voice_engine_events_emitted_total", "Events emitted", ["kind"])
events_published_total = Counter(
    "voice_engine_events_published_total", "Events acknowledged by the MQTT broker"
)
events_dropped_total = Counter(
    "voice_engine_events_dropped_total", "Events that could not be stored in the outbox"
)
mqtt_connected = Gauge("voice_engine_mqtt_connected", "1 while connected to the MQTT broker")

# HTTP API

api_requests_total = Counter(
    "voice_engine_api_requests_total",
    "HTTP requests, by route template and status",
    ["route", "status"],
)


@dataclass(frozen=True)
class WorkerStats:
    """What a worker process reports about itself."""

    worker_id: str
    active_calls: int
    rss_bytes: int
    cpu_seconds: float
    """User + system CPU time since the worker started."""


class WorkerCollector(Collector):
    """Turns a snapshot of the workers into per-worker metrics at each scrape."""

    def __init__(self, snapshot: Callable[[], Iterable[WorkerStats]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        # Describing without calling the snapshot keeps registration free of side effects.
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._snapshot()))

    @staticmethod
    def _families(stats: Iterable[WorkerStats] = ()) -> Iterator[Metric]:
        calls = GaugeMetricFamily(
            "voice_engine_worker_active_calls", "Calls held by each worker", labels=["worker"]
        )
        memory = GaugeMetricFamily(
            "voice_engine_worker_memory_bytes", "Resident memory of each worker", labels=["worker"]
        )
        cpu = CounterMetricFamily(
            "voice_engine_worker_cpu_seconds", "CPU time used by each worker", labels=["worker"]
        )
        for worker in stats:
            calls.add_metric([worker.worker_id], worker.active_calls)
            memory.add_metric([worker.worker_id], worker.rss_bytes)
            cpu.add_metric([worker.worker_id], worker.cpu_seconds)
        yield from (calls, memory, cpu)


def register_worker_collector(
    snapshot: Callable[[], Iterable[WorkerStats]], registry: CollectorRegistry = REGISTRY
) -> WorkerCollector:
    """Export per-worker numbers; `snapshot` is called at each scrape and must not block.

    Keep the returned collector to `registry.unregister` it when the supervisor stops.
    """
    collector = WorkerCollector(snapshot)
    registry.register(collector)
    return collector
