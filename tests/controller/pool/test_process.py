"""One worker process's I/O, with a scripted worker that speaks the IPC without SIP."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

import pytest

from engine.controller.pool import process as process_module
from engine.controller.pool.process import Unreadable, WorkerSubprocess
from engine.ipc.doorbell import Doorbell
from engine.ipc.messages import Ready, Shutdown, Stats, StatsRequest
from engine.ipc.worker_options import WorkerOptions
from tests.controller.pool import scripted_worker

DEADLINE_SECONDS = 10.0


def options_for(ipc_fd: int) -> WorkerOptions:
    return WorkerOptions(
        worker_id=7,
        ipc_fd=ipc_fd,
        sip_port=0,
        bind_address="127.0.0.1",
        rtp_port_base=20000,
        rtp_port_count=8,
        clock_rate=8000,
        max_calls=4,
        log_level=1,
    )


@pytest.fixture
async def doorbell() -> AsyncIterator[Doorbell]:
    bell = Doorbell("127.0.0.1")
    yield bell
    bell.close()


async def test_messages_arrive_decoded_and_a_bad_line_as_unreadable(doorbell: Doorbell) -> None:
    worker = await WorkerSubprocess.start(scripted_worker.command("answers"), options_for, doorbell)
    async with asyncio.timeout(DEADLINE_SECONDS):
        ready = await worker.next_message()
        assert isinstance(ready, Ready)
        assert ready.worker_id == 7 and ready.pid == worker.pid and ready.sip_port > 0
        assert await worker.next_message() == Unreadable(scripted_worker.UNREADABLE_LINE)
        worker.send(StatsRequest(), ready.sip_port)
        assert isinstance(await worker.next_message(), Stats)
        worker.send(Shutdown(), ready.sip_port)
        assert await worker.next_message() is None
        assert await worker.wait() == 0
    worker.close()


async def test_stderr_goes_to_the_log_pjsip_chatter_as_debug(
    doorbell: Doorbell, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="engine.worker.7")
    worker = await WorkerSubprocess.start(scripted_worker.command("answers"), options_for, doorbell)
    worker.send(Shutdown(), 0)
    async with asyncio.timeout(DEADLINE_SECONDS):
        await worker.relay_stderr()  # until the worker's stderr closes
        await worker.wait()
    worker.close()
    logged = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "engine.worker.7"]
    assert logged == [
        (logging.DEBUG, scripted_worker.PJSIP_STDERR_LINE),
        (logging.WARNING, scripted_worker.PLAIN_STDERR_LINE),
    ]


async def test_abort_kills_a_worker_that_ignores_it_after_the_grace(
    doorbell: Doorbell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process_module, "ABORT_GRACE_SECONDS", 0.1)
    worker = await WorkerSubprocess.start(
        scripted_worker.command("deaf-to-abort"), options_for, doorbell
    )
    async with asyncio.timeout(DEADLINE_SECONDS):
        assert isinstance(await worker.next_message(), Ready)  # its SIGABRT handler is set by now
        worker.abort()
        assert await worker.wait() == -signal.SIGKILL
    worker.close()


async def test_abort_ends_a_worker_that_acts_on_it(doorbell: Doorbell) -> None:
    worker = await WorkerSubprocess.start(scripted_worker.command("mute"), options_for, doorbell)
    async with asyncio.timeout(DEADLINE_SECONDS):
        assert isinstance(await worker.next_message(), Ready)
        worker.abort()
        assert await worker.wait() == -signal.SIGABRT
    worker.close()
