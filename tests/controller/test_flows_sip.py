"""The flow language end to end: real engine, real pjsua2 workers, real SIPp on loopback.

Digits come from SIPp as RFC 2833 (payload type 121) captures, webhooks go to an HTTP server
started here on a free port, recordings are read back with `wave`.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import shutil
import socket
import sys
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.sessions.model import Outcome, Session
from engine.tools.sipp import pcaps
from engine.tools.sipp.ports import free_udp_port_pair
from engine.tools.sipp.runner import SippUas
from tests.support.engine import (
    REPO,
    engine_config,
    messages,
    running,
    wait_for_end,
    wait_until,
)

pytestmark = pytest.mark.sip

DESTINATION = "+18144043093"
CALLER_ID = "+12025550143"
TEST_FLOWS = Path(__file__).parent / "flows"
SCENARIOS = Path(__file__).parent / "scenarios"
FLOW_WEBHOOK_URL = "http://127.0.0.1:8099"
"""What the flows name as their webhook server; replaced by the test server's address."""
FLOW_AGENT_URI = "sip:agent@127.0.0.1:5999"
"""What the flows name as transfer or dial target; replaced per test."""


# ---------------------------------------------------------------------- helpers


class WebhookServer:
    """Records every request's JSON body; answers 200 {"ok": true}."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                received.append({"method": self.command, "path": self.path, "json": body})
                payload = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _answer
            do_GET = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[Any]:
        return [r["json"] for r in list(self.requests)]


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    with WebhookServer() as server:
        yield server


def make_flows(tmp_path: Path, webhook_url: str, agent: str = FLOW_AGENT_URI) -> Path:
    """The test flows plus the repo's appointment-reminder and audio, pointed at our servers."""
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copytree(REPO / "flows" / "audio", folder / "audio")
    sources = [*sorted(TEST_FLOWS.glob("*.yaml")), REPO / "flows" / "appointment-reminder.yaml"]
    for source in sources:
        text = source.read_text().replace(FLOW_WEBHOOK_URL, webhook_url)
        (folder / source.name).write_text(text.replace(FLOW_AGENT_URI, agent))
    return folder


def dtmf_folder(tmp_path: Path, digits: str, lead_ms: int = 0, gap_ms: int = 400) -> Path:
    """A SIPp working folder whose dtmf-sequence.pcap plays `digits` after `lead_ms`."""
    folder = tmp_path / f"pcap-{digits.replace('#', 'P').replace('*', 'S')}-{lead_ms}"
    folder.mkdir(exist_ok=True)
    target = pcaps.sequence_pcap(digits, folder / pcaps.SEQUENCE_FILE, gap_ms=gap_ms)
    if lead_ms:
        with_lead_in(target, lead_ms)
    return folder


def with_lead_in(capture: Path, lead_ms: int) -> None:
    """Put one tiny PCMU packet `lead_ms` before the first digit: SIPp replays a capture
    relative to its first packet, so this delays every digit."""
    data = capture.read_bytes()
    header, link, records = pcaps._records(data)
    sec, usec, packet = records[0]
    rtp = pcaps._rtp_offset(packet, link)
    first_seq = int.from_bytes(packet[rtp + 2 : rtp + 4], "big")
    first_ts = int.from_bytes(packet[rtp + 4 : rtp + 8], "big")
    filler = pcaps._rewrite(packet, link, 0, first_seq - 1, first_ts - lead_ms * 8)
    start_us = sec * 1_000_000 + usec - lead_ms * 1000
    body = pcaps._record(start_us // 1_000_000, start_us % 1_000_000, filler)
    capture.write_bytes(header + body + data[len(header) :])


def wav_facts(path: Path) -> tuple[float, float]:
    """Duration in seconds and RMS (full scale 32768) of a mono PCM16 WAV."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames = wav.getnframes()
        samples = array.array("h", wav.readframes(frames))
        rate = wav.getframerate()
    if sys.byteorder == "big":
        samples.byteswap()
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return frames / rate, rms


def ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte & 0x70) >> 4)
    return (0x84 - magnitude) if byte & 0x80 else (magnitude - 0x84)


ULAW = [ulaw_to_linear(b) for b in range(256)]


class RtpSink:
    """A UDP port that a SIPp answer points the engine's RTP at; keeps each PCMU packet's level."""

    def __init__(self) -> None:
        self.port = free_udp_port_pair()
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", self.port))
        self.socket.setblocking(False)
        self.levels: list[float] = []

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                packet = self.socket.recv(2048)
                payload = packet[12 + 4 * (packet[0] & 0x0F) :]
                if (packet[1] & 0x7F) == 0 and payload:
                    energy = sum(ULAW[b] ** 2 for b in payload) / len(payload)
                    self.levels.append(math.sqrt(energy))

    def speech_packets(self) -> int:
        return sum(level > 500 for level in self.levels)

    def __enter__(self) -> RtpSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket.close()


def log_has(session: Session, *fragments: str) -> bool:
    return any(all(f in m for f in fragments) for m in messages(session))


async def call(
    tmp_path: Path,
    hooks: WebhookServer,
    flow: str,
    uas: SippUas,
    *,
    agent: str = FLOW_AGENT_URI,
    timeout: float = 40,
) -> Session:
    flows = make_flows(tmp_path, hooks.url, agent)
    async with running(engine_config(tmp_path, uas.port, flows_dir=flows)) as engine:
        created = await engine.create_outgoing_session(flow, DESTINATION, CALLER_ID)
        session = await wait_for_end(engine, created.id, timeout)
        # Webhooks of on_hangup may still be on their way when the session has ended.
        return session


# ---------------------------------------------------------------------- 1. digits drive gather


@pytest.mark.parametrize(("digit", "answer"), [("1", "confirmed"), ("2", "cancelled")])
async def test_appointment_reminder_digit_picks_the_branch(
    tmp_path: Path, hooks: WebhookServer, digit: str, answer: str
) -> None:
    # The chime (0.5 s) is not interruptible: the digit comes 1.5 s in, during the prompt.
    cwd = dtmf_folder(tmp_path, digit, lead_ms=1500)
    with SippUas("uas-send-dtmf", cwd=cwd) as uas:
        session = await call(tmp_path, hooks, "appointment-reminder", uas)
    log = messages(session)
    assert session.outcome is Outcome.COMPLETED
    assert f"digit received: {digit}" in log
    assert log_has(session, "step ask (gather) finished: ok", digit)
    assert f"step decide (branch) finished: ok: digits equals {digit}" in log
    assert log_has(session, f"step {answer} (set) started")
    assert not log_has(session, "step no_answer (set) started")
    assert hooks.bodies() == [
        {"session": session.id, "destination": DESTINATION, "answer": answer}
    ], hooks.requests
    assert any("hang-up by engine" in m for m in log)


async def test_no_match_after_retries(tmp_path: Path, hooks: WebhookServer) -> None:
    cwd = dtmf_folder(tmp_path, "99", lead_ms=300, gap_ms=600)
    with SippUas("uas-send-dtmf", cwd=cwd) as uas:
        session = await call(tmp_path, hooks, "menu", uas)
    assert session.outcome is Outcome.COMPLETED
    assert messages(session).count("digit received: 9") == 2
    assert log_has(session, "step ask (gather) finished: no_match")
    assert log_has(session, "step invalid (set) started")
    assert hooks.bodies() == [
        {"session": session.id, "answer": "invalid", "digits": "9", "status": "no_match"}
    ]


async def test_no_input_after_retries(tmp_path: Path, hooks: WebhookServer) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        session = await call(tmp_path, hooks, "menu", uas)
    assert session.outcome is Outcome.COMPLETED
    assert not any(m.startswith("digit received") for m in messages(session))
    assert log_has(session, "step ask (gather) finished: no_input")
    assert log_has(session, "step silent (set) started")
    assert hooks.bodies() == [
        {"session": session.id, "answer": "silent", "digits": "", "status": "no_input"}
    ]


async def test_digit_one_on_the_menu(tmp_path: Path, hooks: WebhookServer) -> None:
    cwd = dtmf_folder(tmp_path, "1", lead_ms=300)
    with SippUas("uas-send-dtmf", cwd=cwd) as uas:
        session = await call(tmp_path, hooks, "menu", uas)
    assert log_has(session, "step one (set) started")
    assert hooks.bodies() == [
        {"session": session.id, "answer": "one", "digits": "1", "status": "ok"}
    ]


# ---------------------------------------------------------------------- 2. record


async def test_recording_has_the_length_and_is_not_silent(
    tmp_path: Path, hooks: WebhookServer
) -> None:
    with SippUas("uas-play-audio") as uas:
        session = await call(tmp_path, hooks, "record", uas)
    assert session.outcome is Outcome.COMPLETED
    path = tmp_path / "recordings" / session.id / "message.wav"
    assert path.is_file(), messages(session)
    duration, rms = wav_facts(path)
    assert abs(duration - 3.0) <= 0.5, duration
    assert rms > 300, f"recording looks silent: RMS {rms:.0f}"
    assert log_has(session, "recording saved", str(path))
    [body] = hooks.bodies()
    assert body["path"] == str(path)
    assert body["reason"] == "max_length"
    assert abs(float(body["duration"]) - 3.0) <= 0.5


async def test_recording_of_silence_is_silent(tmp_path: Path, hooks: WebhookServer) -> None:
    """The control for the RMS check: SIPp echoing our own silence."""
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        session = await call(tmp_path, hooks, "record", uas)
    duration, rms = wav_facts(tmp_path / "recordings" / session.id / "message.wav")
    assert abs(duration - 3.0) <= 0.5
    assert rms < 100, rms


def speech_end_seconds(path: Path, frame_seconds: float = 0.02, level: float = 300) -> float:
    """When the last 20-ms frame louder than `level` (RMS, full scale 32768) ends."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    size = int(rate * frame_seconds)
    last = 0
    for index in range(0, len(samples) - size + 1, size):
        frame = samples[index : index + size]
        if math.sqrt(sum(s * s for s in frame) / size) > level:
            last = index + size
    return last / rate


async def test_a_recording_goes_on_while_the_far_end_talks(
    tmp_path: Path, hooks: WebhookServer
) -> None:
    """The silence rule hears the far end: speech longer than `silence_seconds` (2 s) is
    recorded to its end, and the recording stops 2 s after it."""
    with SippUas("uas-play-audio") as uas:
        session = await call(tmp_path, hooks, "record-until-silence", uas)
    path = tmp_path / "recordings" / session.id / "message.wav"
    [body] = hooks.bodies()
    assert body["reason"] == "silence", body
    duration, _ = wav_facts(path)
    speech_end = speech_end_seconds(path)
    assert speech_end > 5, speech_end  # the far end's seven seconds of speech, not cut at 2 s
    assert abs(duration - speech_end - 2.0) <= 0.3, (speech_end, duration)


async def test_a_recording_of_a_far_end_that_never_speaks_stops_after_the_silence(
    tmp_path: Path, hooks: WebhookServer
) -> None:
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        session = await call(tmp_path, hooks, "record-until-silence", uas)
    [body] = hooks.bodies()
    assert body["reason"] == "silence", body
    duration, _ = wav_facts(tmp_path / "recordings" / session.id / "message.wav")
    assert abs(duration - 2.0) <= 0.3, duration


# ---------------------------------------------------------------------- 3. transfer


async def test_transfer_sends_refer_and_continues_when_accepted(
    tmp_path: Path, hooks: WebhookServer
) -> None:
    agent = "sip:agent@127.0.0.1:5070"
    with SippUas("uas-refer") as uas:
        session = await call(tmp_path, hooks, "transfer", uas, agent=agent)
        sip = uas.messages_text()
    assert session.outcome is Outcome.COMPLETED
    assert "REFER sip:" in sip
    assert f"Refer-To: <{agent}>" in sip or f"Refer-To: {agent}" in sip, sip
    assert "SIP/2.0 202 Accepted" in sip
    # PJSIP reports the NOTIFY's sipfrag (200) as the result once SIPp has accepted (202).
    assert log_has(session, "step move (transfer) finished: ok"), "\n".join(messages(session))
    assert log_has(session, "step moved (set) started")
    [body] = hooks.bodies()
    assert body["result"] == "transferred"
    assert body["accepted"] == "True"
    assert body["sip_code"] in ("200", "202")


# ---------------------------------------------------------------------- 4. dial


async def test_dial_bridges_audio_from_the_second_leg_to_the_first(
    tmp_path: Path, hooks: WebhookServer
) -> None:
    """Leg A's SDP sends the engine's RTP to a socket we read; leg B (SIPp) plays speech, then
    hangs up. Before the bridge the engine sends A silence; after it, B's speech (PCMA ->
    PCMU). When B hangs up, the dial step ends `ok` and the flow goes on with `next`."""
    sink = RtpSink()
    leg_a = SippUas(SCENARIOS / "uas-answer-rtp-to-port.xml", keys={"rtp_port": str(sink.port)})
    leg_b = SippUas(SCENARIOS / "uas-play-audio-then-bye.xml", keys={"hangup_ms": "4000"})
    with sink, leg_a, leg_b:
        flows = make_flows(tmp_path, hooks.url, leg_b.uri("agent"))
        async with running(engine_config(tmp_path, leg_a.port, flows_dir=flows)) as engine:
            created = await engine.create_outgoing_session("dial", DESTINATION, CALLER_ID)
            await wait_until(
                lambda: sink.drain() or log_has(created, "second leg answered: bridging"),
                timeout=15,
                what="the bridge",
            )
            before = list(sink.levels)
            sink.levels.clear()
            await wait_until(
                lambda: sink.drain() or sink.speech_packets() >= 25,
                timeout=10,
                what="speech from leg B on leg A",
            )
            session = await wait_for_end(engine, created.id)
        sip_b = leg_b.messages_text()
    assert "INVITE sip:agent@127.0.0.1" in sip_b
    # Before the bridge, the engine sent leg A only silence (noVad: RTP keeps flowing).
    assert len(before) >= 10, "no RTP reached leg A before the bridge"
    assert max(before) < 100, before[-20:]
    assert session.outcome is Outcome.COMPLETED
    log = "\n".join(messages(session))
    assert log_has(session, "dialling second leg", leg_b.uri("agent")), log
    assert log_has(session, "step connect (dial) finished: ok"), log
    assert log_has(session, "step bridged (set) started"), log
    [body] = hooks.bodies()
    assert body == {
        "session": session.id,
        "result": "bridged",
        "answered": "True",
        "sip_code": "200",
    }


async def test_dial_bridges_audio_from_the_first_leg_to_the_second(
    tmp_path: Path, hooks: WebhookServer
) -> None:
    """The other direction: leg A (SIPp) speaks from its answer on; leg B's SDP sends the
    engine's RTP to our socket, which hears silence until the bridge and A's speech after it."""
    sink = RtpSink()
    leg_a = SippUas("uas-play-audio")
    leg_b = SippUas(SCENARIOS / "uas-answer-rtp-to-port.xml", keys={"rtp_port": str(sink.port)})
    with sink, leg_a, leg_b:
        flows = make_flows(tmp_path, hooks.url, leg_b.uri("agent"))
        async with running(engine_config(tmp_path, leg_a.port, flows_dir=flows)) as engine:
            created = await engine.create_outgoing_session("dial", DESTINATION, CALLER_ID)
            await wait_until(
                lambda: sink.drain() or sink.speech_packets() >= 25,
                timeout=15,
                what="speech from leg A on leg B",
            )
            await engine.end_session(created.id)
            session = await wait_for_end(engine, created.id)
    assert log_has(session, "second leg answered: bridging")
    assert session.outcome is Outcome.COMPLETED


async def test_dial_busy_takes_the_failure_branch(tmp_path: Path, hooks: WebhookServer) -> None:
    with (
        SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as leg_a,
        SippUas("uas-busy-486") as leg_b,
    ):
        flows = make_flows(tmp_path, hooks.url, leg_b.uri("agent"))
        async with running(engine_config(tmp_path, leg_a.port, flows_dir=flows)) as engine:
            created = await engine.create_outgoing_session("dial", DESTINATION, CALLER_ID)
            session = await wait_for_end(engine, created.id)
        assert "SIP/2.0 486 Busy Here" in leg_b.messages_text()
    assert session.outcome is Outcome.COMPLETED
    assert log_has(session, "step connect (dial) finished: failed", "486")
    assert log_has(session, "step failed (set) started")
    assert hooks.bodies() == [
        {"session": session.id, "result": "failed", "answered": "False", "sip_code": "486"}
    ]


# ---------------------------------------------------------------------- 5. far end hangs up


async def test_far_end_hangup_runs_on_hangup(tmp_path: Path, hooks: WebhookServer) -> None:
    with SippUas("uas-answer-hangup-after-delay", rtp_echo=True, keys={"hangup_ms": "2000"}) as uas:
        session = await call(tmp_path, hooks, "appointment-reminder", uas)
    assert session.outcome is Outcome.COMPLETED
    log = messages(session)
    assert any(m.startswith("hang-up by far end") for m in log)
    assert log_has(session, "step ask (gather) finished: hangup")
    assert log_has(session, "step on_hangup[1] (webhook) started")
    assert not log_has(session, "step report (webhook) started")
    await wait_until(lambda: bool(hooks.requests), what="the on_hangup webhook")
    assert hooks.bodies() == [{"session": session.id, "answer": "hung up", "hung_up": True}]


# ---------------------------------------------------------------------- 6. send_digits


async def test_send_digits_reach_the_far_end(tmp_path: Path, hooks: WebhookServer) -> None:
    """SIPp's -rtp_echo returns our RFC 2833 packets: what comes back is what we sent."""
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        session = await call(tmp_path, hooks, "send-digits", uas)
    assert session.outcome is Outcome.COMPLETED
    assert log_has(session, "step send (send_digits) finished: ok", "25#")
    received = [m.removeprefix("digit received: ") for m in messages(session) if "digit rec" in m]
    assert received == ["2", "5", "#"]
    assert hooks.bodies() == [{"session": session.id, "digits": "25#", "status": "ok"}]
