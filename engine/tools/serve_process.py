"""`voice-engine serve` as a child process, for tests and benchmarks that need the real thing.

with ServeProcess(config_file, "http://127.0.0.1:8080", log_path) as serve:
    ...                              # started: /health answered 200
    serve.terminate()                # SIGTERM: the engine drains
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from engine.tools.childproc import ServiceStartError, stop_child


class ServeProcess:
    def __init__(self, config: Path, base_url: str, log_path: Path) -> None:
        self.config = config
        self.base_url = base_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServeProcess:
        """Start it and return once its HTTP API answers (the engine has started by then)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "--config", str(self.config), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise ServiceStartError(f"voice-engine serve exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.close()
                raise ServiceStartError(f"voice-engine serve did not start: {self.log_tail()}")
            time.sleep(0.05)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.process is not None, "not started"
        return self.process.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """SIGTERM (a drain), then SIGKILL if it is still there after `timeout`."""
        if self.process is not None:
            stop_child(self.process, timeout)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
