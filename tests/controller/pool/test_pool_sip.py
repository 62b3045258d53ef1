"""The worker pool with real workers and SIPp: growth, shrinking, a worker killed mid-call."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from engine.clock import SystemClock
from engine.config import TrunkConfig, WorkersConfig
from engine.controller.engine import Engine
from engine.controller.pool import WorkerHandle, WorkerPool, WorkerState
from engine.ipc.messages import ConfigureTrunk, Message
from engine.sessions.model import CallState, Outcome
from tests.support.engine import (
    DESTINATION,
    hold_engine,
    messages,
    place_holds,
    wait_for_end,
    wait_until,
)

pytestmark = pytest.mark.sip


async def answered_holds(engine: Engine, count: int) -> list[str]:
    """`count` hold calls, once all of them are answered."""
    ids = await place_holds(engine, count)
    await wait_until(
        lambda: all(engine.calls[i].session.call_state is CallState.CONNECTED for i in ids),
        20,
        f"{count} answered calls",
    )
    return ids


async def test_pool_grows_on_demand_and_shrinks_when_idle(tmp_path: Path) -> None:
    workers = {"min_workers": 1, "max_workers": 3, "idle_shrink_seconds": 1, "nice": 3}
    async with hold_engine(tmp_path, workers=workers) as (engine, _):
        pool = engine.pool
        assert len(pool.workers) == 1
        ids = await answered_holds(engine, 9)
        assert len(pool.ready_workers()) == 3
        loads = {w: w.load for w in pool.ready_workers()}
        assert sum(loads.values()) == 9 and max(loads.values()) <= 4
        # The next call goes to the least loaded worker.
        least = min(loads, key=lambda w: (loads[w], w.slot))
        ids.append((await engine.create_outgoing_session("hold", DESTINATION, None)).id)
        await wait_until(lambda: engine.calls[ids[-1]].worker is not None, 5, "placing")
        assert engine.calls[ids[-1]].worker is least
        await wait_until(
            lambda: engine.calls[ids[-1]].session.call_state is CallState.CONNECTED,
            20,
            "the tenth call answered",
        )
        ports = {w.sip_port for w in pool.ready_workers()}
        assert len(ports) == 3
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)
        for worker in pool.ready_workers():
            # Every thread: the SIP thread and PJSIP's media and clock threads alike.
            threads = list(Path(f"/proc/{worker.process.pid}/task").iterdir())
            assert len(threads) >= 3
            assert {os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in threads} == {expected}
        for session_id in ids:
            await engine.end_session(session_id)
        for session_id in ids:
            assert (await wait_for_end(engine, session_id)).outcome is Outcome.COMPLETED
        await wait_until(lambda: len(pool.workers) == 1, 10, "the pool to shrink to one")
        assert pool.restarts == 0


async def test_a_killed_worker_fails_only_its_calls_and_is_replaced(tmp_path: Path) -> None:
    workers = {"min_workers": 2, "max_workers": 2, "calls_per_worker": 2}
    async with hold_engine(tmp_path, workers=workers) as (engine, _):
        pool = engine.pool
        ids = await answered_holds(engine, 4)
        victim = pool.workers[0]
        doomed = {i for i in ids if engine.calls[i].worker is victim}
        survivors = set(ids) - doomed
        assert len(doomed) == 2 and len(survivors) == 2
        loop_time = engine.calls[ids[0]]._loop.time
        killed_at = loop_time()
        os.kill(victim.process.pid, signal.SIGKILL)
        for session_id in doomed:
            session = await wait_for_end(engine, session_id, 5)
            assert session.outcome is Outcome.FAILED
            assert session.sip_reason == "worker lost"
            assert "worker lost" in messages(session)
        assert loop_time() - killed_at < 1.0
        assert victim.state is WorkerState.DEAD
        for session_id in survivors:
            assert engine.calls[session_id].session.call_state is CallState.CONNECTED
        await wait_until(
            lambda: len(pool.ready_workers()) == 2, 10, "a replacement worker to be ready"
        )
        assert pool.restarts == 1
        replacement = next(w for w in pool.ready_workers() if w is not victim and w.load == 0)
        assert replacement.worker_id > victim.worker_id
        # The replacement takes calls.
        extra = await engine.create_outgoing_session("hold", DESTINATION, None)
        await wait_until(
            lambda: engine.calls[extra.id].session.call_state is CallState.CONNECTED,
            10,
            "a call on the replacement",
        )
        assert engine.calls[extra.id].worker is replacement
        for session_id in [*survivors, extra.id]:
            await engine.end_session(session_id)
            assert (await wait_for_end(engine, session_id)).outcome is Outcome.COMPLETED


async def test_a_crashed_worker_leaves_its_python_stacks_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="engine.worker")
    workers = {"min_workers": 1, "max_workers": 1}
    async with hold_engine(tmp_path, workers=workers) as (engine, _):
        victim = engine.pool.workers[0]
        os.kill(victim.process.pid, signal.SIGSEGV)
        await wait_until(lambda: engine.pool.restarts == 1, 10, "the worker to be replaced")
        await wait_until(
            lambda: any("Segmentation fault" in r.getMessage() for r in caplog.records),
            5,
            "the crash in the log",
        )
        lines = [r for r in caplog.records if r.name == f"engine.worker.{victim.worker_id}"]
        text = "\n".join(r.getMessage() for r in lines)
        assert "Fatal Python error: Segmentation fault" in text
        assert "engine/worker/loop.py" in text  # the main thread's stack, inside run()


async def test_a_worker_is_handed_calls_only_after_its_trunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new worker must have ConfigureTrunk before it can be chosen for a MakeCall."""
    sent: dict[int, list[type[Message]]] = {}
    send = WorkerHandle.send

    def recording_send(worker: WorkerHandle, message: Message) -> None:
        sent.setdefault(worker.worker_id, []).append(type(message))
        send(worker, message)

    monkeypatch.setattr(WorkerHandle, "send", recording_send)
    trunk = TrunkConfig(name="sipp", host="127.0.0.1", port=5999)
    pool = WorkerPool(
        WorkersConfig(min_workers=0, max_workers=2),
        [trunk],
        lambda worker, message: None,
        lambda worker, legs: None,
        clock=SystemClock(),
    )
    ready_without_trunk: list[int] = []
    seen_ready: set[int] = set()

    async def watch_every_loop_turn() -> None:
        while True:
            for worker in pool.ready_workers():
                if worker.worker_id not in seen_ready:
                    seen_ready.add(worker.worker_id)
                    if ConfigureTrunk not in sent.get(worker.worker_id, []):
                        ready_without_trunk.append(worker.worker_id)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch_every_loop_turn())
    await pool.start()
    try:
        first = await pool.acquire()
        second = await pool.acquire(slots=first.capacity)  # does not fit: a second worker
        assert first is not second
        assert seen_ready == {first.worker_id, second.worker_id}
        assert ready_without_trunk == []
    finally:
        watcher.cancel()
        await pool.stop()


async def test_a_worker_that_stops_answering_is_aborted_and_its_calls_fail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SIGSTOP: alive, holding its calls, answering nothing, as a worker wedged inside PJSIP.
    workers = {"min_workers": 2, "max_workers": 2, "unresponsive_seconds": 2.0}
    async with hold_engine(tmp_path, workers=workers) as (engine, _):
        pool = engine.pool
        ids = await answered_holds(engine, 2)
        victim = engine.calls[ids[0]].worker
        assert victim is not None
        doomed = [i for i in ids if engine.calls[i].worker is victim]
        survivors = [i for i in ids if i not in doomed]
        os.kill(victim.process.pid, signal.SIGSTOP)
        for session_id in doomed:
            session = await wait_for_end(engine, session_id, 15)
            assert session.outcome is Outcome.FAILED
            assert session.sip_reason == "worker lost"
        assert victim.state is WorkerState.DEAD
        assert "has answered nothing for" in caplog.text
        # The other worker was as silent while its call held, but answered when asked.
        await wait_until(lambda: len(pool.ready_workers()) == 2, 15, "a replacement worker")
        assert pool.restarts == 1
        for session_id in survivors:
            assert engine.calls[session_id].session.call_state is CallState.CONNECTED
            await engine.end_session(session_id)
