"""SippUas against a real SIPp."""

from __future__ import annotations

import socket

from engine.tools.sipp.runner import SippUas


def test_a_media_port_taken_before_sipp_binds_it_is_picked_again() -> None:
    uas = SippUas("uas-answer-echo-wait-bye", rtp_echo=True)
    taken = uas.media_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", taken + 2))  # the port SIPp's -rtp_echo uses for video
        try:
            uas.start()
            assert uas.media_port != taken
            assert uas.process is not None and uas.process.poll() is None
        finally:
            uas.close()
