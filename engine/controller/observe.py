"""Prometheus metrics from the engine's events and from its live state.

Counters and histograms follow the events a session emits (one place decides what each event
counts for); gauges are read from the dialers and the pool at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY

from engine import metrics
from engine.controller.dialer import TrunkDialer
from engine.controller.pool import WorkerPool, WorkerState
from engine.metrics import WorkerCollector, WorkerStats, register_worker_collector


def record_event(flow_id: str, trunk: str, kind: str, data: dict[str, Any]) -> None:
    if kind == "call.invite_sent":
        _observe(metrics.api_to_invite_seconds, data.get("api_to_invite_seconds"))
    elif kind == "call.answered":
        _observe(metrics.post_dial_delay_seconds, data.get("post_dial_delay_seconds"))
        _observe(metrics.answer_time_seconds, data.get("answer_time_seconds"))
    elif kind == "call.ended":
        if data.get("sip_code"):
            metrics.sip_final_responses_total.labels(str(data["sip_code"])).inc()
        _observe(metrics.call_duration_seconds, data.get("talk_seconds"))
        for direction in ("sent", "received", "lost"):
            packets = data.get(f"rtp_packets_{direction}")
            if packets:
                metrics.rtp_packets_total.labels(direction).inc(packets)
    elif kind == "session.completed":
        metrics.sessions_total.labels(str(data["outcome"]), trunk).inc()
    elif kind == "flow.step_finished":
        metrics.flow_steps_total.labels(flow_id, str(data["type"]), str(data["result"])).inc()


def _observe(histogram: Any, value: object) -> None:
    if isinstance(value, int | float):
        histogram.observe(value)


class LiveGauges:
    """Binds the state gauges to one engine's dialers and pool for as long as it runs."""

    def __init__(self, dialers: Iterable[TrunkDialer], pool: WorkerPool) -> None:
        self._pool = pool
        for dialer in dialers:
            metrics.active_calls.labels(dialer.trunk.name).set_function(_active_calls(dialer))
            metrics.queued_sessions.labels(dialer.trunk.name).set_function(_queued(dialer))
        for state in WorkerState:
            metrics.workers.labels(state.value).set_function(_workers_in(pool, state))
        self._collector: WorkerCollector | None = register_worker_collector(self._worker_stats)

    def _worker_stats(self) -> list[WorkerStats]:
        return [
            WorkerStats(
                worker_id=str(worker.worker_id),
                active_calls=worker.stats.active_calls,
                rss_bytes=worker.stats.rss_bytes,
                cpu_seconds=worker.stats.cpu_seconds,
            )
            for worker in self._pool.workers.values()
            if worker.stats is not None
        ]

    def close(self) -> None:
        if self._collector is not None:
            REGISTRY.unregister(self._collector)
            self._collector = None


def _active_calls(dialer: TrunkDialer) -> Callable[[], float]:
    return lambda: float(dialer.active)


def _queued(dialer: TrunkDialer) -> Callable[[], float]:
    return lambda: float(len(dialer.queue))


def _workers_in(pool: WorkerPool, state: WorkerState) -> Callable[[], float]:
    return lambda: float(sum(1 for w in pool.workers.values() if w.state is state))
