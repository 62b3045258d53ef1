"""Prometheus metrics from the engine's events and from its live state.

Counters and histograms follow the events a session emits (one place decides what each event
counts for); gauges are read from the dialers and the pool at scrape time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, assert_never

from prometheus_client import REGISTRY

from engine import metrics
from engine.controller.dialer import TrunkDialer
from engine.controller.pool import WorkerPool, WorkerState
from engine.events import model as em
from engine.metrics import WorkerCollector, WorkerStats, register_worker_collector
from engine.sessions.model import Outcome


def record_event(flow_id: str, trunk: str, data: em.SessionEventData) -> None:
    match data:  # the commonest first
        case em.FlowStepFinished():
            _flow_steps(flow_id, data.type, data.result).inc()
        case (
            em.FlowStepStarted()
            | em.SessionCreated()
            | em.CallRinging()
            | em.CallDigitReceived()
            | em.RecordingSaved()
        ):
            pass  # counted by voice_engine_events_emitted_total only

        case em.CallInviteSent():
            _observe(metrics.api_to_invite_seconds, data.api_to_invite_seconds)
        case em.CallAnswered():
            _observe(metrics.post_dial_delay_seconds, data.post_dial_delay_seconds)
            _observe(metrics.answer_time_seconds, data.answer_time_seconds)
        case em.CallEnded():
            if data.sip_code:
                _sip_final_responses(data.sip_code).inc()
            _observe(metrics.call_duration_seconds, data.talk_seconds)
            for direction, packets in (
                ("sent", data.rtp_packets_sent),
                ("received", data.rtp_packets_received),
                ("lost", data.rtp_packets_lost),
            ):
                if packets:
                    _rtp_packets(direction).inc(packets)
        case em.SessionCompleted():
            _sessions(data.outcome, trunk).inc()
        case _:
            assert_never(data)


# A labelled child per label values, found once: labels() checks and locks on every call, and
# every call counts several. The label values are few (flows, step types, results, codes).


@functools.cache
def _flow_steps(flow_id: str, step_type: str, result: str) -> Any:
    return metrics.flow_steps_total.labels(flow_id, step_type, result)


@functools.cache
def _sip_final_responses(sip_code: int) -> Any:
    return metrics.sip_final_responses_total.labels(str(sip_code))


@functools.cache
def _rtp_packets(direction: str) -> Any:
    return metrics.rtp_packets_total.labels(direction)


@functools.cache
def _sessions(outcome: Outcome, trunk: str) -> Any:
    return metrics.sessions_total.labels(outcome.value, trunk)


def _observe(histogram: Any, value: float | None) -> None:
    if value is not None:
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
