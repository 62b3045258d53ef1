"""Transfer, capacity, stats and shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from engine.ipc.messages import (
    CallAnswered,
    CallEnded,
    CommandFailed,
    Hangup,
    Stats,
    StatsRequest,
    TransferResult,
)
from engine.ipc.messages import Transfer as TransferCommand
from engine.tools.sipp.runner import SippUas
from tests.support.worker_process import WorkerProcess
from tests.worker.conftest import answered_call, make_call, trunk

pytestmark = pytest.mark.sip


async def test_transfer_sends_refer(worker: WorkerProcess) -> None:
    target = "sip:+15550001111@127.0.0.1:5099"
    with SippUas("uas-refer", calls=1) as uas:
        await answered_call(worker, uas)
        await worker.send(TransferCommand(call_id="c1", transfer_id="t1", target_uri=target))
        result = await worker.wait_for(TransferResult, call_id="c1")
        assert (result.transfer_id, result.accepted) == ("t1", True)
        assert 200 <= result.sip_code < 300
        await worker.send(Hangup(call_id="c1"))
        await worker.wait_for(CallEnded, call_id="c1")
        text = uas.messages_text()
    assert "REFER sip:" in text
    assert f"Refer-To: <{target}>" in text or f"Refer-To: {target}" in text


async def test_fifth_call_on_a_four_call_worker_fails(worker: WorkerProcess) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        for n in range(1, 5):
            await answered_call(worker, uas, f"c{n}")
        await worker.send(make_call(uas, "c5"))
        ended = await worker.wait_for(CallEnded, call_id="c5")
        assert ended.sip_code >= 500
        assert not ended.answered
        failed = await worker.wait_for(CommandFailed, call_id="c5")
        assert failed.command == "make_call"
        await worker.send(StatsRequest())
        stats = await worker.wait_for(Stats)
        assert stats.active_calls == 4
        assert stats.rss_bytes > 0
        for n in range(1, 5):
            await worker.send(Hangup(call_id=f"c{n}"))
        for n in range(1, 5):
            ended = await worker.wait_for(CallEnded, call_id=f"c{n}")
            assert (ended.answered, ended.remote_hangup) == (True, False)


@pytest.mark.parametrize("ended_by", ["engine", "far end"])
async def test_calls_ended_and_replaced_at_once_wait_for_socket_handles(
    worker: WorkerProcess, ended_by: str
) -> None:
    """The controller hands a freed slot on the moment CallEnded arrives. Five rounds of four
    calls, each replaced as it ends, open 80 sockets in about a second, more than PJSIP's 64
    handles, which free only 500 ms after a call ends: this aborted the worker."""
    if ended_by == "engine":
        uas = SippUas("uas-answer-echo-wait-bye", rtp_echo=True)
    else:
        uas = SippUas("uas-answer-hangup-after-delay", rtp_echo=True, keys={"hangup_ms": "300"})
    with uas:
        for round_ in range(5):
            calls = [f"r{round_}c{n}" for n in range(4)]
            for call_id in calls:
                await answered_call(worker, uas, call_id)
            for call_id in calls:
                if ended_by == "engine":
                    await worker.send(Hangup(call_id=call_id))
                await worker.wait_for(CallEnded, call_id=call_id)
                replacement = f"{call_id}-next"
                await worker.send(make_call(uas, replacement))
                await worker.wait_for(CallAnswered, call_id=replacement)
            for call_id in calls:
                replacement = f"{call_id}-next"
                if ended_by == "engine":
                    await worker.send(Hangup(call_id=replacement))
                await worker.wait_for(CallEnded, call_id=replacement)


async def test_a_burst_of_rejected_calls_waits_for_socket_handles(worker: WorkerProcess) -> None:
    """Each call takes two of PJSIP's 64 socket handles, free again only 500 ms after the call
    ends; 60 calls rejected at once used to abort the worker on the 30th or so."""
    with SippUas("uas-busy-486") as uas:
        for n in range(60):
            await worker.send(make_call(uas, f"b{n}"))
            ended = await worker.wait_for(CallEnded, call_id=f"b{n}")
            assert ended.sip_code == 486, ended
        await worker.send(StatsRequest())
        assert (await worker.wait_for(Stats)).active_calls == 0


async def test_unknown_trunk_still_ends_the_call(worker: WorkerProcess) -> None:
    with SippUas("uas-busy-486") as uas:
        await worker.send(make_call(uas, trunk="nope"))
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert ended.sip_code >= 500


@contextlib.asynccontextmanager
async def worker_with_answered_call() -> AsyncIterator[tuple[WorkerProcess, SippUas]]:
    """A worker whose end the test itself brings about, with one answered call."""
    worker = WorkerProcess()
    await worker.start()
    try:
        await worker.send(trunk())
        with SippUas("uas-answer-echo-wait-bye", rtp_echo=True, calls=1) as uas:
            await answered_call(worker, uas)
            yield worker, uas
            assert uas.wait(10) == 0, uas.diagnostics()
    finally:
        await worker.close()
        worker.stderr_path.unlink(missing_ok=True)


async def test_shutdown_hangs_up_and_exits_0() -> None:
    async with worker_with_answered_call() as (worker, _):
        assert await worker.stop() == 0, worker.tail()
        ended = await worker.wait_for(CallEnded, call_id="c1")
        assert (ended.answered, ended.remote_hangup) == (True, False)


async def test_controller_gone_means_shutdown() -> None:
    async with worker_with_answered_call() as (worker, uas):
        await worker.close_channel()
        assert await worker.wait_exit() == 0, worker.tail()
        assert uas.wait(10) == 0, uas.diagnostics()
        assert "BYE sip:" in uas.messages_text()
