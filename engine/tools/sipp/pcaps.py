"""RFC 2833 DTMF captures that PJSIP accepts, generated from the ones SIPp ships.

SIPp's `/usr/share/sip-tester/dtmf_2833_*.pcap` carry payload type 101; PJSIP offers
telephone-event as 121 and ignores 101. We rewrite the RTP payload-type
byte (keeping the marker bit) and zero the UDP checksum (0 means "no checksum" over IPv4).
Generated into var/pcaps/, never committed.
"""

from __future__ import annotations

import struct
from pathlib import Path

SHIPPED_DIR = Path("/usr/share/sip-tester")
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "var" / "pcaps"
PJSIP_TELEPHONE_EVENT_PT = 121
SEQUENCE_FILE = "dtmf-sequence.pcap"
"""The name sipp-scenarios/uas-send-dtmf.xml plays, relative to SIPp's working folder."""
DEFAULT_DIGITS = "1#"
AUDIO_FILE = "g711a.pcap"
"""About 7 s of A-law audio shipped with SIPp, played by sipp-scenarios/uas-play-audio.xml."""

_GLOBAL_HEADER = 24
_RECORD_HEADER = 16
_LINK_HEADER = {1: 14, 113: 16, 101: 0}  # Ethernet, Linux cooked, raw IP
_DIGIT_NAMES = {"*": "star", "#": "pound"}
_SAMPLES_PER_MS = 8


def shipped_capture(digit: str) -> Path:
    if digit in _DIGIT_NAMES:
        name = _DIGIT_NAMES[digit]
    elif len(digit) == 1 and digit.isdigit():
        name = digit
    else:
        raise ValueError(f"SIPp ships no RFC 2833 capture for digit {digit!r}")
    return SHIPPED_DIR / f"dtmf_2833_{name}.pcap"


def _records(data: bytes) -> tuple[bytes, int, list[tuple[int, int, bytes]]]:
    (magic,) = struct.unpack("<I", data[:4])
    if magic != 0xA1B2C3D4:
        raise ValueError("only little-endian microsecond pcap files are supported")
    (link,) = struct.unpack("<I", data[20:24])
    records = []
    offset = _GLOBAL_HEADER
    while offset < len(data):
        sec, usec, incl, _orig = struct.unpack("<IIII", data[offset : offset + _RECORD_HEADER])
        start = offset + _RECORD_HEADER
        records.append((sec, usec, data[start : start + incl]))
        offset = start + incl
    return data[:_GLOBAL_HEADER], link, records


def _rtp_offset(packet: bytes, link: int) -> int:
    ip = _LINK_HEADER[link]
    ihl = (packet[ip] & 0x0F) * 4
    return ip + ihl + 8


def _rewrite(packet: bytes, link: int, pt: int, seq: int | None, ts: int | None) -> bytes:
    out = bytearray(packet)
    rtp = _rtp_offset(packet, link)
    out[rtp - 2 : rtp] = b"\x00\x00"  # UDP checksum: none
    out[rtp + 1] = (out[rtp + 1] & 0x80) | pt
    if seq is not None:
        out[rtp + 2 : rtp + 4] = struct.pack("!H", seq & 0xFFFF)
    if ts is not None:
        out[rtp + 4 : rtp + 8] = struct.pack("!I", ts & 0xFFFFFFFF)
    return bytes(out)


def _record(sec: int, usec: int, packet: bytes) -> bytes:
    return struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet


def rewrite_payload_type(source: Path, target: Path, pt: int = PJSIP_TELEPHONE_EVENT_PT) -> Path:
    header, link, records = _records(source.read_bytes())
    body = b"".join(_record(s, u, _rewrite(p, link, pt, None, None)) for s, u, p in records)
    _write_if_changed(target, header + body)
    return target


def sequence_pcap(
    digits: str,
    target: Path,
    gap_ms: int = 400,
    pt: int = PJSIP_TELEPHONE_EVENT_PT,
) -> Path:
    """One capture playing `digits` in order, `gap_ms` apart (start to start).

    Sequence numbers run on across digits and each digit gets its own RTP timestamp, so PJSIP
    sees a new event per digit, even for a repeated digit like "11".
    """
    if not digits:
        raise ValueError("no digits")
    header = b""
    body = []
    seq = 1000
    for index, digit in enumerate(digits):
        header, link, records = _records(shipped_capture(digit).read_bytes())
        offset_us = index * gap_ms * 1000
        first_sec, first_usec, _ = records[0]
        event_ts = 16000 + index * gap_ms * _SAMPLES_PER_MS
        for sec, usec, packet in records:
            rel = (sec - first_sec) * 1_000_000 + (usec - first_usec) + offset_us
            packet = _rewrite(packet, link, pt, seq, event_ts)
            seq += 1
            body.append(_record(1_000_000_000 + rel // 1_000_000, rel % 1_000_000, packet))
    _write_if_changed(target, header + b"".join(body))
    return target


def ensure_pcaps(directory: Path = DEFAULT_DIR) -> Path:
    """Write dtmf_2833_<digit>.pcap with PT 121 for every shipped digit, the default
    sequence ("1#") and a copy of g711a.pcap into `directory` (idempotent)."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in sorted(SHIPPED_DIR.glob("dtmf_2833_*.pcap")):
        rewrite_payload_type(source, directory / source.name)
    sequence_pcap(DEFAULT_DIGITS, directory / SEQUENCE_FILE)
    _write_if_changed(directory / AUDIO_FILE, (SHIPPED_DIR / AUDIO_FILE).read_bytes())
    return directory


def _write_if_changed(target: Path, data: bytes) -> None:
    if target.exists() and target.read_bytes() == data:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
