"""The publisher in a process of its own: events go from the outbox to MQTT off the controller.

aiomqtt and paho cost the controller's event loop about as much per call as everything else it
does (tasks, an `asyncio.Event` and three `recv()` per event: docs/field-notes.md, MQTT), so the
`Publisher` runs in `python -m engine.events.relay_process`, with its own, read-only
connection to the outbox file. The outbox stays the handoff: the controller writes events there,
then tells the relay to look; the relay says what the broker acknowledged, and the controller
deletes it. The relay never writes the file: its write transactions held SQLite's lock while the
controller's commits slept on the event loop waiting for it (docs/field-notes.md, SQLite).

The controller writes to the relay's stdin: first one JSON line of settings (the broker's
password included, so it never shows in the process list; and the last outbox position an
earlier relay reported delivered, so that a restarted relay neither sends nor reports those
again), then `notify` (new events in the outbox) or `stop` (deliver what is pending, say
offline, disconnect, exit). End of input (the controller died) counts as `stop`. The relay
reports on stdout, one line each: `state connected`, `state spooling`, `delivered N P` (N more
events acknowledged, up to and including outbox position P). Its log lines go to stderr as
`LEVEL message`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import metrics
from engine.config import MqttConfig

log = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 0.5
"""After the relay process died unexpectedly, before a new one starts; doubled while each new
one dies within `RESTART_DELAY_MAX_SECONDS`, up to that."""
RESTART_DELAY_MAX_SECONDS = 10.0

StateListener = Callable[[str], None]
DeliveryListener = Callable[[int, int], None]
"""(count, through): `count` more events delivered, up to and including outbox position
`through`."""


def settings_line(
    config: MqttConfig, node_id: str, outbox_path: Path, delivered_through: int
) -> bytes:
    mqtt: dict[str, Any] = config.model_dump(mode="json")
    if config.password is not None:
        mqtt["password"] = config.password.get_secret_value()
    document = {
        "mqtt": mqtt,
        "node_id": node_id,
        "outbox": str(outbox_path),
        "delivered_through": delivered_through,
    }
    return json.dumps(document).encode() + b"\n"


class Relay:
    """The controller's side: starts the relay process, tells it of new events, restarts it if
    it dies, and passes its reports on."""

    def __init__(
        self,
        config: MqttConfig,
        node_id: str,
        outbox_path: Path,
        *,
        on_state: StateListener,
        on_delivered: DeliveryListener,
    ) -> None:
        self._config = config
        self._node_id = node_id
        self._outbox_path = outbox_path
        self._delivered_through = 0
        """The last outbox position any relay of this controller reported delivered."""
        self._on_state = on_state
        self._on_delivered = on_delivered
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="event-relay")

    def notify(self) -> None:
        self._send(b"notify\n")

    async def stop(self, timeout: float) -> None:
        """Let the relay deliver what is pending and say offline, for up to `timeout` s."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            self._send(b"stop\n")
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                log.warning("the event relay did not stop in %.0f s: killing it", timeout)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._supervisor is not None:
            # Its last reports first; then it may only be waiting to restart a dead relay.
            await asyncio.wait({self._supervisor}, timeout=1.0)
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    def _send(self, line: bytes) -> None:
        process = self._process
        if process is None or process.stdin is None or process.stdin.is_closing():
            return
        with contextlib.suppress(ConnectionError):
            process.stdin.write(line)

    async def _spawn(self) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.events.relay_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        process.stdin.write(
            settings_line(self._config, self._node_id, self._outbox_path, self._delivered_through)
        )
        self._process = process

    async def _supervise(self) -> None:
        delay = RESTART_DELAY_SECONDS
        while True:
            process = self._process
            assert process is not None and process.stdout is not None
            assert process.stderr is not None
            started = time.monotonic()
            await asyncio.gather(
                self._read_reports(process.stdout), _relay_log(process.stderr), process.wait()
            )
            self._on_state("spooling")
            if self._stopping:
                return
            if time.monotonic() - started > RESTART_DELAY_MAX_SECONDS:
                delay = RESTART_DELAY_SECONDS
            log.error(
                "the event relay exited with status %s: a new one starts in %.1f s",
                process.returncode,
                delay,
            )
            while not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESTART_DELAY_MAX_SECONDS)
                try:
                    await self._spawn()
                    metrics.event_relay_restarts_total.inc()
                    break
                except OSError:
                    log.exception("could not start the event relay; trying again in %.1f s", delay)
            if self._stopping:
                self._send(b"stop\n")  # started as stop() began: it delivers and exits
                return

    async def _read_reports(self, stdout: asyncio.StreamReader) -> None:
        while line := await stdout.readline():
            word, _, value = line.decode(errors="replace").strip().partition(" ")
            if word == "state":
                self._on_state(value)
            elif word == "delivered" and _are_numbers(numbers := value.split(), 2):
                count, through = int(numbers[0]), int(numbers[1])
                self._delivered_through = max(through, self._delivered_through)
                self._on_delivered(count, through)
            else:
                log.warning("the event relay said %r", line[:200])


def _are_numbers(words: list[str], count: int) -> bool:
    return len(words) == count and all(word.isdigit() for word in words)


async def _relay_log(stderr: asyncio.StreamReader) -> None:
    relay_log = logging.getLogger("engine.events.relay.process")
    while line := await stderr.readline():
        level_name, _, text = line.decode(errors="replace").rstrip().partition(" ")
        level = logging.getLevelName(level_name)
        if isinstance(level, int):
            relay_log.log(level, "%s", text)
        elif line.strip():
            relay_log.warning("%s", line.decode(errors="replace").rstrip())
