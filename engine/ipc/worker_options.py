"""The worker's command line: built by the controller's pool, parsed by the worker (no pjsua2)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

BUSY_POLL_MS = 50
"""With calls up, wait in libHandleEvents up to this long (SIP and PJSIP's timers end the wait at
once; RTP does not: PJSIP's media thread reads it); the IPC socket is then checked without
waiting. Nothing waits for this timeout: the controller rings the SIP port after each command,
and the worker rings it itself when another PJSIP thread queues work (engine/ipc/doorbell.py).
A short poll costs the workers' SIP threads CPU for nothing (docs/field-notes.md)."""


@dataclass(frozen=True)
class WorkerOptions:
    worker_id: int
    """Chosen by the supervisor; echoed in Ready."""
    ipc_fd: int
    """An inherited Unix stream socket carrying JSON lines both ways."""
    sip_port: int
    """UDP port for SIP; 0 binds any free port (the real one is sent in Ready)."""
    bind_address: str
    rtp_port_base: int
    rtp_port_count: int
    clock_rate: int
    """Conference bridge clock; 8000 costs less CPU than PJSIP's default 16000."""
    max_calls: int
    log_level: int
    """PJSIP log level 0..5, written to stderr."""
    nice: int = 0
    """Added to the niceness of every thread of the worker (PJSIP's media and clock threads
    inherit it)."""
    busy_poll_ms: int = BUSY_POLL_MS

    def argv(self) -> list[str]:
        """The arguments after `python -m engine.worker` that reproduce these options."""
        return [
            "--worker-id", str(self.worker_id),
            "--ipc-fd", str(self.ipc_fd),
            "--sip-port", str(self.sip_port),
            "--bind-address", self.bind_address,
            "--rtp-port-base", str(self.rtp_port_base),
            "--rtp-port-count", str(self.rtp_port_count),
            "--clock-rate", str(self.clock_rate),
            "--max-calls", str(self.max_calls),
            "--log-level", str(self.log_level),
            "--nice", str(self.nice),
            "--busy-poll-ms", str(self.busy_poll_ms),
        ]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> WorkerOptions:
    parser = argparse.ArgumentParser(prog="python -m engine.worker", description=__doc__)
    parser.add_argument("--worker-id", type=int, required=True)
    parser.add_argument("--ipc-fd", type=int, required=True)
    parser.add_argument("--sip-port", type=int, default=0)
    parser.add_argument("--bind-address", default="127.0.0.1")
    parser.add_argument("--rtp-port-base", type=int, default=20000)
    parser.add_argument("--rtp-port-count", type=int, default=40)
    parser.add_argument("--clock-rate", type=int, default=8000)
    parser.add_argument("--max-calls", type=int, default=4)
    parser.add_argument("--log-level", type=int, default=1, choices=range(6))
    parser.add_argument("--nice", type=int, default=0, choices=range(20))
    parser.add_argument("--busy-poll-ms", type=int, default=BUSY_POLL_MS)
    args = parser.parse_args(argv)
    return WorkerOptions(
        worker_id=args.worker_id,
        ipc_fd=args.ipc_fd,
        sip_port=args.sip_port,
        bind_address=args.bind_address,
        rtp_port_base=args.rtp_port_base,
        rtp_port_count=args.rtp_port_count,
        clock_rate=args.clock_rate,
        max_calls=args.max_calls,
        log_level=args.log_level,
        nice=args.nice,
        busy_poll_ms=args.busy_poll_ms,
    )
