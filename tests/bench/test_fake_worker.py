"""The controller-alone bench's worker: the engine runs a load call against it as against SIP."""

from __future__ import annotations

from pathlib import Path

from bench.controller_cpu import FAKE_WORKER
from engine.sessions.model import Outcome
from engine.tools.loadtest.runner import FLOWS_DIR
from engine.tools.sipp.ports import free_udp_port
from tests.support.engine import DESTINATION, engine_config, running, wait_for_end


class Recorder:
    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.ended: dict[str, object] = {}

    def emit(self, session_id: str, kind: str, data: dict[str, object]) -> None:
        self.kinds.append(kind)
        if kind == "call.ended":
            self.ended = data


async def test_a_load_call_completes_against_the_fake_worker_as_against_sip(
    tmp_path: Path,
) -> None:
    events = Recorder()
    config = engine_config(
        tmp_path, free_udp_port(), flows_dir=FLOWS_DIR, workers={"command": list(FAKE_WORKER)}
    )
    async with running(config, events=events) as engine:
        session = await engine.create_outgoing_session("loadtest-3s", DESTINATION, None)
        ended = await wait_for_end(engine, session.id, timeout=20)
    assert ended.outcome is Outcome.COMPLETED
    assert ended.date_answered is not None and ended.date_completed is not None
    talk = (ended.date_completed - ended.date_answered).total_seconds()
    assert 2.9 < talk < 4.0, talk  # the 2.6-s prompt, the 0.4-s pause
    for kind in ("call.invite_sent", "call.ringing", "call.answered", "call.ended"):
        assert kind in events.kinds, (kind, events.kinds)
    assert events.kinds.index("call.ringing") < events.kinds.index("call.answered")
    received = events.ended["rtp_packets_received"]
    assert isinstance(received, int) and received > 100, events.ended
