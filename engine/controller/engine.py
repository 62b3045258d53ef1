"""The engine: sessions, trunk dialers, the worker pool and one CallDriver per live call.

Implements `engine.api.backend.VoiceBackend` for the HTTP API and `CallHost` for the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Protocol, assert_never

import httpx

from engine import metrics
from engine.clock import Clock, SystemClock
from engine.config import EngineConfig, OwnedNumber
from engine.controller.call import CallDriver, FlowRunLike
from engine.controller.dialer import TrunkDialer
from engine.controller.lag import LoopLag
from engine.controller.observe import LiveGauges, record_event
from engine.controller.pool import WorkerHandle, WorkerPool
from engine.controller.tts import TtsCache
from engine.errors import Overloaded, QueueFull
from engine.events import model as em
from engine.flow.events import SessionFacts
from engine.flow.machine import FlowRun
from engine.flow.registry import FlowRegistry
from engine.ipc import messages as msg
from engine.sessions.idempotency import HEADER, IdempotencyKey
from engine.sessions.ids import new_session_id
from engine.sessions.model import CallState, LogEntry, Outcome, Session, iso_utc
from engine.sessions.store import SessionStore
from engine.sessions.validation import validate_outgoing

log = logging.getLogger(__name__)

FLOW_RELOAD_INTERVAL_SECONDS = 2.0
WORKER_STATS_INTERVAL_SECONDS = 5.0


class EventSink(Protocol):
    def emit(self, session_id: str, kind: em.EventKind, data: em.EventData) -> object: ...


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        *,
        events: EventSink | None = None,
        worker_log_level: int = 1,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.events = events
        self.store = SessionStore(config.store.path)
        self.flows = FlowRegistry(config.flows_dir)
        self.tts = TtsCache(config.tts.cache_dir, config.tts.voice, config.workers.clock_rate)
        self.recordings_dir = config.recordings_dir
        self.http = httpx.AsyncClient()
        self.pool = WorkerPool(
            config.workers,
            config.trunks,
            on_message=self._on_worker_message,
            on_lost=self._on_worker_lost,
            log_level=worker_log_level,
            clock=self.clock,
        )
        self.dialers = {
            trunk.name: TrunkDialer(trunk, self.pool, self.clock) for trunk in config.trunks
        }
        self.calls: dict[str, CallDriver] = {}
        """Live sessions by id, from creation to their final state."""
        self._legs: dict[str, CallDriver] = {}
        self._rng = rng
        self._draining = False
        self._stopped = False
        self._reload_task: asyncio.Task[None] | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._gauges: LiveGauges | None = None
        self.loop_lag = LoopLag(self.clock)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.flows.load_all()
        self._recover_unfinished()
        await self.pool.start()
        for dialer in self.dialers.values():
            dialer.start()
        self._reload_task = asyncio.ensure_future(self._reload_flows())
        self._stats_task = asyncio.ensure_future(self._poll_worker_stats())
        self.loop_lag.start()
        self._gauges = LiveGauges(self.dialers.values(), self.pool)

    async def stop(self, drain_seconds: float | None = None) -> None:
        """Drain: refuse new sessions, let live calls finish until the deadline, then hang up."""
        if self._stopped:
            return
        self._stopped = True
        self._draining = True
        deadline = self.config.drain_seconds if drain_seconds is None else drain_seconds
        for dialer in self.dialers.values():
            for call in list(dialer.queue):
                dialer.remove(call)
                call.fail_before_placing("engine shutting down")
        live = [call.done.wait() for call in self.calls.values()]
        if live:
            log.info("draining %d call(s) for up to %.0f s", len(live), deadline)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*live), deadline)
        for call in list(self.calls.values()):
            call.end()
        pending = [call.done.wait() for call in self.calls.values()]
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), 10)
        for dialer in self.dialers.values():
            await dialer.stop()
        await self.loop_lag.stop()
        for task in (self._reload_task, self._stats_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._gauges is not None:
            self._gauges.close()
        await self.pool.stop()
        for call in list(self.calls.values()):
            call.on_worker_lost()
        await self.http.aclose()
        self.store.close()

    def _recover_unfinished(self) -> None:
        for session in self.store.unfinished(self.config.node_id):
            session.outcome = Outcome.FAILED
            session.call_state = CallState.DISCONNECTED
            session.sip_reason = "engine restarted during the call"
            session.date_completed = self.clock.utc()
            self.store.save(session)
            self.log_lines(session, ["outcome: failed (engine restarted during the call)"])

    async def _reload_flows(self) -> None:
        while True:
            await asyncio.sleep(FLOW_RELOAD_INTERVAL_SECONDS)
            try:
                self.flows.reload_changed()
            except Exception:
                log.exception("reloading flows failed")

    async def _poll_worker_stats(self) -> None:
        while True:
            self.pool.request_stats()
            await asyncio.sleep(WORKER_STATS_INTERVAL_SECONDS)

    # ------------------------------------------------------------------ VoiceBackend

    async def create_outgoing_session(
        self,
        flow_id: str,
        number_to_dial: str,
        caller_id: str | None,
        idempotency_key: str | None = None,
    ) -> Session:
        requested_at = self.clock.monotonic()
        idempotency = None
        if idempotency_key is not None:
            idempotency = IdempotencyKey.of(idempotency_key, flow_id, number_to_dial, caller_id)
            earlier = self._session_for_key(idempotency)
            if earlier is not None:
                return earlier
        if self._draining:
            metrics.sessions_refused_total.labels("shutting_down").inc()
            raise QueueFull(retry_after_seconds=5, message="the engine is shutting down")
        self._refuse_if_overloaded()
        request = validate_outgoing(
            flow_id,
            number_to_dial,
            caller_id,
            flow_ids=self.flows,
            numbers=self.config.numbers,
            usable_trunks=self.dialers.keys(),
            rng=self._rng,
        )
        dialer = self.dialers[request.trunk]
        if dialer.is_full():
            metrics.sessions_refused_total.labels("queue_full").inc()
            raise QueueFull(retry_after_seconds=dialer.retry_after_seconds())
        created_at = self.clock.monotonic()
        session = Session(
            id=new_session_id(),
            flow_id=request.flow_id,
            destination=request.number_to_dial,
            from_address=request.caller_id,
            trunk=request.trunk,
            date_created=self.clock.utc(),
            node_id=self.config.node_id,
        )
        session.log.append(
            LogEntry(
                session.date_created,
                f"created: flow {session.flow_id}, dialling {session.destination}"
                f" from {session.from_address} via {session.trunk}",
            )
        )
        self.store.insert(session, idempotency)
        self.emit(
            session,
            em.SessionCreated(
                flow_id=session.flow_id,
                destination=session.destination,
                from_address=session.from_address,
                trunk=session.trunk,
            ),
        )
        call = CallDriver(
            self,
            session,
            dialer.trunk,
            legs_needed=self._legs_needed(session.flow_id),
            requested_at=requested_at,
            created_at=created_at,
            recordings_dir=self.recordings_dir,
        )
        self.calls[session.id] = call
        dialer.enqueue(call)
        return session

    def _session_for_key(self, idempotency: IdempotencyKey) -> Session | None:
        """The session an earlier request with this key created (None: the key is new);
        IdempotencyKeyReused when that request asked for something else."""
        found = self.store.find_idempotency_key(idempotency.key)
        if found is None:
            return None
        session_id, earlier = found
        idempotency.check_repeats(earlier, session_id)
        session = self.get_session(session_id)
        if session is not None:
            log.info(
                "%s %r repeated: answering with its session, not dialling again",
                HEADER,
                idempotency.key,
                extra={"session_id": session_id},
            )
        return session

    def _refuse_if_overloaded(self) -> None:
        limit = self.config.http.overload_lag_seconds
        if limit is None:
            return
        behind = self.loop_lag.behind_seconds()
        if behind >= limit:
            metrics.sessions_refused_total.labels("overloaded").inc()
            raise Overloaded(
                retry_after_seconds=1,
                message=f"the engine is overloaded: its event loop is {behind:.1f} s behind",
            )

    def get_session(self, session_id: str) -> Session | None:
        call = self.calls.get(session_id)
        return call.session if call is not None else self.store.get(session_id)

    def list_sessions(self, skip: int, take: int) -> tuple[list[Session], int]:
        return self.store.page(skip, take)

    async def end_session(self, session_id: str) -> Session | None:
        call = self.calls.get(session_id)
        if call is None:
            return self.store.get(session_id)
        dialer = self.dialers[call.trunk.name]
        if call.worker is None and dialer.remove(call):
            call.cancel_queued()
        else:
            call.end()
        return call.session

    def phone_numbers(self) -> list[OwnedNumber]:
        return list(self.config.numbers)

    def readiness(self) -> dict[str, bool]:
        checks = {
            "workers": bool(self.pool.ready_workers()) or self.config.workers.min_workers == 0,
            "store": self.store.writable(),
            "accepting": not self._draining,
        }
        state = getattr(self.events, "state", None)
        if state is not None:
            checks["broker"] = state in ("connected", "spooling", "disabled")
        return checks

    # ------------------------------------------------------------------ CallHost

    def log_lines(self, session: Session, messages: list[str]) -> None:
        """Lines of the session's log, written at one moment (one clock reading, one write)."""
        date = self.clock.utc()
        first = len(session.log)
        session.log.extend([LogEntry(date, message) for message in messages])
        self.store.append_logs(session.id, first, date, messages)
        if log.isEnabledFor(logging.DEBUG):
            for message in messages:
                log.debug("%s", message, extra={"session_id": session.id})

    def save_session(self, session: Session) -> None:
        self.store.save(session)

    @property
    def answer_prompts(self) -> bool:
        return self.config.workers.answer_prompt

    def new_flow_run(self, session: Session) -> FlowRunLike:
        flow = self.flows.get(session.flow_id)
        facts = SessionFacts(
            id=session.id,
            flow=session.flow_id,
            destination=session.destination,
            caller_id=session.from_address,
            answered_at=iso_utc(session.date_answered or self.clock.utc()),
        )
        return FlowRun(flow, facts, registry_lookup=self.flows.get)

    def bind_leg(self, worker: WorkerHandle, leg_id: str, call: CallDriver) -> None:
        self.pool.bind_leg(worker, leg_id)
        self._legs[leg_id] = call

    def release_reservation(self, worker: WorkerHandle, slots: int) -> None:
        self.pool.release_reservation(worker, slots)

    def call_finished(self, call: CallDriver) -> None:
        self.calls.pop(call.session.id, None)
        if call.worker is not None:
            self.dialers[call.trunk.name].call_ended()

    # ------------------------------------------------------------------ worker messages

    def _on_worker_message(self, worker: WorkerHandle, message: msg.FromWorker) -> None:
        """A worker's message about a leg, to the call that owns the leg."""
        match message:
            case (
                msg.InviteSent()
                | msg.CallProgress()
                | msg.CallAnswered()
                | msg.CallEnded()
                | msg.PlaybackDone()
                | msg.DigitReceived()
                | msg.RecordingDone()
                | msg.TransferResult()
                | msg.DigitsSent()
            ):
                leg_id = message.call_id
            case msg.CommandFailed():
                if message.call_id is None:
                    log.warning(
                        "worker %d: %s failed: %s",
                        worker.worker_id,
                        message.command,
                        message.reason,
                    )
                    return
                leg_id = message.call_id
            case msg.Ready() | msg.Stats():
                log.error("worker %d: %s reached the engine", worker.worker_id, message.type)
                return
            case _:
                assert_never(message)
        call = self._legs.get(leg_id)
        if isinstance(message, msg.CallEnded):
            self._legs.pop(leg_id, None)
            self.pool.leg_ended(worker, leg_id)
        if call is None:
            # A reply that crossed the leg's end (a command answered after its CallEnded).
            log.debug("worker %d: %s for ended leg %s", worker.worker_id, message.type, leg_id)
            return
        call.on_worker_message(message)

    def _on_worker_lost(self, worker: WorkerHandle, legs: set[str]) -> None:
        calls = {self._legs.pop(leg) for leg in legs if leg in self._legs}
        for call in calls:
            call.on_worker_lost()

    # ------------------------------------------------------------------ helpers

    def emit(self, session: Session, data: em.SessionEventData) -> None:
        """Metrics, one log line and the event itself; none of them may break the call path."""
        context = {"session_id": session.id}
        try:
            record_event(session.flow_id, session.trunk, data)
        except Exception:
            log.exception("metrics for event %s failed", data.kind, extra=context)
        log_event(session.id, data)
        if self.events is None:
            return
        try:
            self.events.emit(session.id, data.kind, data)
        except Exception:
            log.exception("event %s not emitted", data.kind, extra=context)

    def _legs_needed(self, flow_id: str) -> int:
        return 2 if self.flows.uses_step_type(flow_id, "dial") else 1


def log_event(session_id: str, data: em.EventData) -> None:
    """The INFO line an event gets in the engine's log: its kind and its fields that are set."""
    if log.isEnabledFor(logging.INFO):
        fields = " ".join(
            f"{name}={value}" for name, value in data.__dict__.items() if value is not None
        )
        log.info("%s %s", data.kind.value, fields, extra={"session_id": session_id})
