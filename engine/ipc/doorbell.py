"""Wakes a worker that waits inside PJSIP's poll (no pjsua2 here: the controller rings too)."""

from __future__ import annotations

import contextlib
import socket


class Doorbell:
    """Ends a worker's wait inside libHandleEvents by a datagram to its SIP UDP port.

    A busy worker blocks in PJSIP's poll (up to its busy poll time), which watches neither the
    IPC socket nor the work that PJSIP's other threads queue for it (a prompt's end arrives on
    the clock thread). The controller rings after each command, the worker itself when such
    work is queued. PJSIP's UDP transport drops any datagram of 32 bytes or less before
    parsing (`udp_on_read_complete`), without a log line even at level 5; the 4 bytes sent are
    a CRLF keep-alive in case anything else reads them (docs/field-notes.md).
    """

    KEEPALIVE = b"\r\n\r\n"

    def __init__(self, worker_address: str) -> None:
        if worker_address in ("0.0.0.0", "::", ""):
            worker_address = "127.0.0.1"
        family = socket.AF_INET6 if ":" in worker_address else socket.AF_INET
        self._address = worker_address
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def ring(self, port: int) -> None:
        with contextlib.suppress(OSError):  # a full socket buffer: the poll ends soon anyway
            self._socket.sendto(self.KEEPALIVE, (self._address, port))

    def close(self) -> None:
        self._socket.close()
