"""One SIP worker process, as the pool drives it: started, read, its stderr logged, signalled.

The worker is a separate process holding one end of a Unix socketpair (JSON lines both ways);
the controller never imports pjsua2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.ipc.codec import decode_from_worker, encode
from engine.ipc.doorbell import Doorbell
from engine.ipc.messages import FromWorker, Message
from engine.ipc.worker_options import WorkerOptions

DEFAULT_WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "engine.worker")
"""What starts a worker, before its options, unless `workers.command` says otherwise."""
ABORT_GRACE_SECONDS = 2.0
"""After SIGABRT (faulthandler then logs the worker's stacks), how long before SIGKILL: a
stopped or wedged process may never act on the first."""
PJSIP_LOG_LINE = re.compile(rb"^\d\d:\d\d:\d\d\.\d{3} ")
"""PJSIP's own log lines ("23:19:19.308  os_core_unix.c !pjlib ..."): debug detail."""
READ_LIMIT_BYTES = 1 << 20
"""The longest line a worker may send."""


@dataclass(frozen=True)
class Unreadable:
    """A line from the worker that is not a message it may send."""

    line: bytes
    """The line as read, newline included."""


class WorkerSubprocess:
    """A running worker: its IPC stream, its exit, its stderr, and the signals that end it."""

    def __init__(
        self,
        worker_id: int,
        process: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        doorbell: Doorbell,
    ) -> None:
        self.worker_id = worker_id
        self._process = process
        self._reader = reader
        self._writer = writer
        self._doorbell = doorbell

    @classmethod
    async def start(
        cls,
        command: Sequence[str],
        options: Callable[[int], WorkerOptions],
        doorbell: Doorbell,
    ) -> WorkerSubprocess:
        """Run `command` with the options for the child's end of a new socketpair (`options`
        gets its file descriptor) appended."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            worker_options = options(theirs.fileno())
            process = await asyncio.create_subprocess_exec(
                *command,
                *worker_options.argv(),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=READ_LIMIT_BYTES)
        return cls(worker_options.worker_id, process, reader, writer, doorbell)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def send(self, message: Message, doorbell_port: int) -> None:
        """Write `message`, then ring `doorbell_port` (the worker's SIP port; 0: not known yet)
        so that a worker waiting inside PJSIP's poll reads it at once."""
        if self._writer.is_closing():
            return
        self._writer.write(encode(message))
        if doorbell_port:
            self._doorbell.ring(doorbell_port)

    async def next_message(self) -> FromWorker | Unreadable | None:
        """The next thing the worker sends; None once it has closed its end or died."""
        try:
            line = await self._reader.readline()
        except ConnectionError:
            return None
        if not line:
            return None
        try:
            return decode_from_worker(line)
        except ValueError:
            return Unreadable(line)

    async def wait(self) -> int:
        """The exit status, once the process has ended."""
        return await self._process.wait()

    def close(self) -> None:
        """Close the controller's end of the IPC stream."""
        self._writer.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()

    def abort(self) -> None:
        """SIGABRT, so that the worker's faulthandler logs its stacks; SIGKILL after
        ABORT_GRACE_SECONDS if it is still running."""
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGABRT)
        asyncio.get_running_loop().call_later(ABORT_GRACE_SECONDS, self._kill_if_running)

    def _kill_if_running(self) -> None:
        if self._process.returncode is None:
            self.kill()

    async def relay_stderr(self) -> None:
        """The worker's stderr into the controller's log (and its redaction): PJSIP's chatter at
        debug level, anything else (warnings, a traceback before a crash) as a warning."""
        stream = self._process.stderr
        if stream is None:
            return
        worker_log = logging.getLogger(f"engine.worker.{self.worker_id}")
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                level = logging.DEBUG if PJSIP_LOG_LINE.match(line) else logging.WARNING
                worker_log.log(level, "%s", text)
