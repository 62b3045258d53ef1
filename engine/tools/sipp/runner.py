"""Run SIPp as a UAS on loopback for one test or demo: `with SippUas("uas-busy-486") as uas:`.

SIPp runs in the foreground (no -bg) as our child, so it dies with the test; readiness is
"its SIP port is bound", awaited with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from engine.errors import ToolError
from engine.tools.childproc import stop_child
from engine.tools.sipp.pcaps import DEFAULT_DIR, ensure_pcaps
from engine.tools.sipp.ports import (
    free_udp_port,
    free_udp_port_range,
    tcp_port_is_free,
    udp_port_is_free,
)
from engine.tools.sipp.socket_drops import udp_drops

SCENARIO_DIR = Path(__file__).resolve().parents[3] / "sipp-scenarios"
SIPP = "sipp"
HOST = "127.0.0.1"


BIND_ATTEMPTS = 3
"""SIPp starts, each with ports picked again, when one picked was taken before SIPp bound it."""


class SippError(ToolError):
    """SIPp could not start or run a scenario (the message says why)."""


def scenario_path(scenario: str | Path) -> Path:
    """A path as given, or a name in sipp-scenarios/ (with or without .xml)."""
    path = Path(scenario)
    if path.suffix != ".xml":
        path = path.with_suffix(".xml")
    if not path.is_absolute() and not path.exists():
        path = SCENARIO_DIR / path.name
    if not path.is_file():
        raise SippError(f"no SIPp scenario {scenario}")
    return path


_KEY_LINE = re.compile(r"^\s*-key (\w+) (\S+)", re.MULTILINE)


def default_keys(scenario: Path) -> dict[str, str]:
    """The `-key NAME DEFAULT` lines of a scenario's comment: SIPp refuses a scenario whose
    [keyword] was not given, so the runner always passes the documented defaults."""
    return dict(_KEY_LINE.findall(scenario.read_text()))


class SippUas:
    """One SIPp process acting as the far end. `uri(user)` gives a request URI for it."""

    def __init__(
        self,
        scenario: str | Path,
        *,
        port: int | None = None,
        keys: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        calls: int | None = None,
        rtp_echo: bool = False,
        transport: str = "udp",
        cwd: Path | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.scenario = scenario_path(scenario)
        self._port_chosen_here = port is None
        self.port = port or free_udp_port(HOST)
        # -mp is SIPp's media port; -rtp_echo also uses -mp + 2 for video: keep 4 free.
        self.media_port = free_udp_port_range(4, HOST)
        self.keys = {**default_keys(self.scenario), **(keys or {})}
        self.extra_args = list(extra_args)
        self.calls = calls
        self.rtp_echo = rtp_echo
        if transport not in ("udp", "tcp", "tls"):
            raise SippError(f"transport {transport!r}: udp, tcp or tls")
        self.transport = transport
        # Scenarios name their pcaps relative to SIPp's working folder (var/pcaps by default).
        self.cwd = cwd if cwd is not None else ensure_pcaps(DEFAULT_DIR)
        self.ready_timeout = ready_timeout
        self._dir = tempfile.TemporaryDirectory(prefix="sipp-")
        self.message_file = Path(self._dir.name) / "messages.log"
        self.error_file = Path(self._dir.name) / "errors.log"
        self.stderr_file = Path(self._dir.name) / "stderr.log"
        self.process: subprocess.Popen[bytes] | None = None

    def uri(self, user: str = "service") -> str:
        return f"sip:{user}@{HOST}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            SIPP, "-sf", str(self.scenario),
            "-i", HOST, "-p", str(self.port),
            "-mi", HOST, "-mp", str(self.media_port),
            "-trace_msg", "-message_file", str(self.message_file),
            "-trace_err", "-error_file", str(self.error_file),
            "-nostdin",
        ]  # fmt: skip
        if self.rtp_echo:
            cmd.append("-rtp_echo")
        if self.transport != "udp":
            # tls also needs -tls_cert/-tls_key (extra_args) unless cacert.pem/cakey.pem are in cwd.
            cmd += ["-t", "t1" if self.transport == "tcp" else "l1"]
        if self.calls is not None:
            cmd += ["-m", str(self.calls)]
        for key, value in self.keys.items():
            cmd += ["-key", key, value]
        return cmd + self.extra_args

    def start(self) -> SippUas:
        """Start SIPp and wait until it listens. Ports are picked free but not held until
        SIPp binds them, so another process can take one in between ("errno = 98"): then
        the ports picked here are picked again, up to `BIND_ATTEMPTS` times in all."""
        for _ in range(BIND_ATTEMPTS - 1):
            try:
                return self._start_once()
            except SippError as exc:
                if "errno = 98" not in str(exc):
                    raise
            self.media_port = free_udp_port_range(4, HOST)
            if self._port_chosen_here:
                self.port = free_udp_port(HOST)
        return self._start_once()

    def _start_once(self) -> SippUas:
        with self.stderr_file.open("wb") as stderr:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + self.ready_timeout
        port_is_free = udp_port_is_free if self.transport == "udp" else tcp_port_is_free
        while port_is_free(self.port, HOST) or not self._media_bound():
            if self.process.poll() is not None:
                raise SippError(f"sipp exited with {self.process.returncode}: {self.diagnostics()}")
            if time.monotonic() > deadline:
                self.stop()
                raise SippError(
                    f"sipp did not bind {HOST}:{self.port} within {self.ready_timeout}s"
                )
            time.sleep(0.01)
        return self

    def _media_bound(self) -> bool:
        """SIPp holds its echo's audio and video ports. It binds them after its SIP port, and
        exits if one is taken: returning at the SIP port alone raced that exit on a busy
        machine."""
        if not self.rtp_echo or self.process is None:
            return True
        held = udp_drops(self.process.pid)
        return self.media_port in held and self.media_port + 2 in held

    def wait(self, timeout: float) -> int:
        """SIPp's exit code (0: every call passed, 1: some failed) once it exits by itself."""
        assert self.process is not None, "not started"
        return self.process.wait(timeout)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        return stop_child(self.process, 5)

    def messages_text(self) -> str:
        """Every SIP message SIPp sent and received so far (-trace_msg)."""
        return _read(self.message_file)

    def diagnostics(self) -> str:
        return (
            f"stderr: {_read(self.stderr_file)[-2000:]}\nerrors: {_read(self.error_file)[-2000:]}"
        )

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> SippUas:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
