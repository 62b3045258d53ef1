"""The PT-121 DTMF captures made from SIPp's shipped ones (no SIPp process needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine.tools.sipp import pcaps
from engine.tools.sipp.ports import free_udp_port_pair, udp_port_is_free

pytestmark = pytest.mark.skipif(
    not pcaps.SHIPPED_DIR.is_dir(), reason="SIPp's captures are not installed"
)


def rtp_headers(path: Path) -> list[tuple[int, int, int, int]]:
    """(payload type, marker, seq, timestamp) of every packet, Ethernet framing."""
    data = path.read_bytes()
    out = []
    offset = 24
    while offset < len(data):
        incl = struct.unpack("<I", data[offset + 8 : offset + 12])[0]
        packet = data[offset + 16 : offset + 16 + incl]
        rtp = 14 + (packet[14] & 0x0F) * 4 + 8
        assert packet[rtp - 2 : rtp] == b"\x00\x00", "UDP checksum must be zeroed"
        seq, ts = struct.unpack("!HI", packet[rtp + 2 : rtp + 8])
        out.append((packet[rtp + 1] & 0x7F, packet[rtp + 1] >> 7, seq, ts))
        offset += 16 + incl
    return out


def test_rewrite_keeps_marker_and_sets_121(tmp_path: Path) -> None:
    target = pcaps.rewrite_payload_type(pcaps.shipped_capture("5"), tmp_path / "5.pcap")
    headers = rtp_headers(target)
    assert {pt for pt, *_ in headers} == {121}
    assert headers[0][1] == 1


def test_rewrite_is_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "star.pcap"
    pcaps.rewrite_payload_type(pcaps.shipped_capture("*"), target)
    before = target.stat().st_mtime_ns
    pcaps.rewrite_payload_type(pcaps.shipped_capture("*"), target)
    assert target.stat().st_mtime_ns == before


def test_sequence_gives_each_digit_its_own_event(tmp_path: Path) -> None:
    headers = rtp_headers(pcaps.sequence_pcap("11#", tmp_path / "seq.pcap"))
    seqs = [seq for _, _, seq, _ in headers]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len({ts for *_, ts in headers}) == 3
    assert sum(marker for _, marker, *_ in headers) == 3


def test_unknown_digit() -> None:
    with pytest.raises(ValueError):
        pcaps.shipped_capture("x")


def test_free_udp_port_pair() -> None:
    port = free_udp_port_pair()
    assert port % 2 == 0
    assert udp_port_is_free(port) and udp_port_is_free(port + 1)
