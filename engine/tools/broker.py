"""A private mosquitto broker on a free loopback port (tests, the demo, load tests).

    with MosquittoBroker() as broker:          # or: async with MosquittoBroker() as broker
        broker.url                             # mqtt://127.0.0.1:PORT
        broker.stop(); broker.start()          # an outage; the port stays the same

`persistence=True` keeps retained messages and durable sessions (clean_session=False) across
stop()/start(), like a production broker with a database; the default forgets everything.
Never the system broker on 1883: each instance owns its process, port and config folder.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from engine.tools.childproc import ServiceStartError, stop_child
from engine.tools.sipp.ports import free_tcp_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class MosquittoBroker:
    def __init__(self, *, persistence: bool = False, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_tcp_port()
        self.persistence = persistence
        self._dir = Path(tempfile.mkdtemp(prefix="voice-engine-mosquitto-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self._dir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto switches to the `mosquitto` user, which cannot write the
            # persistence file in our folder.
            lines.append("user root")
        config = self._dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout: float = 5.0) -> None:
        """Start the broker and return once it accepts connections."""
        if self.running:
            return
        config = self._write_config()
        with (self._dir / "mosquitto.log").open("ab") as log_file:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=log_file
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                log = (self._dir / "mosquitto.log").read_text(errors="replace")
                raise ServiceStartError(f"mosquitto exited with {self._process.returncode}: {log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServiceStartError(f"mosquitto not listening on {self.port}") from None
                time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker (SIGTERM, so a persistent one saves its database)."""
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, timeout)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> MosquittoBroker:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)
