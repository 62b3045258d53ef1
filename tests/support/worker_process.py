"""Run the real SIP worker (`python -m engine.worker`) from asyncio, for tests and tools.

    async with WorkerProcess(max_calls=4) as worker:
        await worker.send(ConfigureTrunk(...))
        ended = await worker.wait_for(CallEnded, call_id="c1")

Every wait has a deadline; messages are kept, so waiting for one does not lose the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from engine.ipc.codec import decode_from_worker, encode
from engine.ipc.doorbell import Doorbell
from engine.ipc.messages import FromWorker, Message, Ready, Shutdown
from engine.ipc.worker_options import BUSY_POLL_MS, WorkerOptions
from engine.tools.sipp.ports import free_udp_port_range

M = TypeVar("M", bound=Message)

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(
        self,
        *,
        worker_id: int = 1,
        max_calls: int = 4,
        clock_rate: int = 8000,
        rtp_port_count: int = 40,
        log_level: int = 1,
        sip_port: int = 0,
        busy_poll_ms: int = BUSY_POLL_MS,
    ) -> None:
        self.worker_id = worker_id
        self.max_calls = max_calls
        self.clock_rate = clock_rate
        self.rtp_port_count = rtp_port_count
        self.log_level = log_level
        self.sip_port = sip_port
        self.busy_poll_ms = busy_poll_ms
        self._doorbell = Doorbell("127.0.0.1")
        self.messages: list[FromWorker] = []
        """Everything the worker sent, in order."""
        self.ready: Ready | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._taken: set[int] = set()
        self._arrived = asyncio.Event()
        self._reader_task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        fd, name = tempfile.mkstemp(prefix="worker-", suffix=".log")
        os.close(fd)
        self.stderr_path = Path(name)

    async def start(self, timeout: float = 15.0) -> Ready:
        parent, child = socket.socketpair()
        options = WorkerOptions(
            worker_id=self.worker_id,
            ipc_fd=child.fileno(),
            sip_port=self.sip_port,
            bind_address="127.0.0.1",
            rtp_port_base=free_udp_port_range(self.rtp_port_count),
            rtp_port_count=self.rtp_port_count,
            clock_rate=self.clock_rate,
            max_calls=self.max_calls,
            log_level=self.log_level,
            busy_poll_ms=self.busy_poll_ms,
        )
        with self.stderr_path.open("wb") as stderr:
            try:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "engine.worker", *options.argv(),
                    pass_fds=(child.fileno(),),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=stderr,
                    cwd=ROOT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )  # fmt: skip
            finally:
                child.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        self._reader_task = asyncio.create_task(self._read(reader))
        self.ready = await self.wait_for(Ready, timeout=timeout)
        return self.ready

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            self.messages.append(decode_from_worker(line))
            self._arrived.set()
        self._arrived.set()

    async def send(self, message: Message) -> None:
        assert self._writer is not None, "not started"
        self._writer.write(encode(message))
        await self._writer.drain()
        if self.ready is not None:  # as the pool does: a busy worker waits in PJSIP's poll
            self._doorbell.ring(self.ready.sip_port)

    async def wait_for(
        self,
        kind: type[M],
        *,
        call_id: str | None = None,
        where: Callable[[M], bool] | None = None,
        timeout: float = 10.0,
    ) -> M:
        """The first message of `kind` (for `call_id`, matching `where`) not returned before."""
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self.messages):
                if (
                    index not in self._taken
                    and isinstance(message, kind)
                    and (call_id is None or getattr(message, "call_id", None) == call_id)
                    and (where is None or where(message))
                ):
                    self._taken.add(index)
                    return message
            if self._reader_task is not None and self._reader_task.done():
                raise AssertionError(f"worker closed IPC before {kind.__name__}: {self.tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no {kind.__name__} for {call_id} within {timeout}s; got {self.messages}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def of_call(self, call_id: str) -> list[FromWorker]:
        return [m for m in self.messages if getattr(m, "call_id", None) == call_id]

    async def stop(self, timeout: float = 15.0) -> int:
        """Send Shutdown and wait for the process to exit; returns its exit code."""
        assert self.process is not None, "not started"
        if self.process.returncode is None:
            with contextlib.suppress(ConnectionError):
                await self.send(Shutdown())
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self.close()
        assert self.process.returncode is not None
        return self.process.returncode

    async def close_channel(self) -> None:
        """Close our end of the IPC socket, as a dying controller would."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
            self._writer = None

    async def wait_exit(self, timeout: float = 15.0) -> int:
        assert self.process is not None, "not started"
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await self.close_channel()
        if self._reader_task is not None:
            await self._reader_task
        self._doorbell.close()

    def tail(self, chars: int = 3000) -> str:
        """The end of the worker's stderr (PJSIP's log), for assertion messages."""
        return self.stderr_path.read_text(errors="replace")[-chars:]

    async def __aenter__(self) -> WorkerProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        self.stderr_path.unlink(missing_ok=True)
