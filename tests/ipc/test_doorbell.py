"""The doorbell: a SIP keep-alive to a worker's port, which ends its wait in PJSIP's poll."""

from __future__ import annotations

import socket

from engine.ipc.doorbell import Doorbell


def test_the_doorbell_sends_a_sip_keepalive_to_the_worker_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker_port:
        worker_port.bind(("127.0.0.1", 0))
        worker_port.settimeout(5)
        doorbell = Doorbell("0.0.0.0")  # a worker bound to every address is rung on loopback
        try:
            doorbell.ring(worker_port.getsockname()[1])
            assert worker_port.recv(64) == b"\r\n\r\n"
        finally:
            doorbell.close()
