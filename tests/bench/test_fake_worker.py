"""The controller-alone bench's worker: the engine runs a load call against it as against SIP,
and it answers each command as the real worker does."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.controller_cpu import FAKE_WORKER
from bench.fake_worker import SIGNALLING_SECONDS, FakeWorker
from engine.events.model import EventData
from engine.ipc import messages as m
from engine.ipc.codec import decode_from_worker
from engine.sessions.model import Outcome
from engine.tools.loadtest.runner import FLOWS_DIR
from engine.tools.sipp.ports import free_udp_port
from tests.support.clock import FakeClock
from tests.support.engine import DESTINATION, engine_config, running, wait_for_end


class Recorder:
    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.ended: dict[str, object] = {}

    def emit(self, session_id: str, kind: str, data: EventData) -> None:
        self.kinds.append(kind)
        if kind == "call.ended":
            self.ended = data.model_dump()


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


class Controller:
    """The controller's end of a fake worker's IPC socket, read with a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(5)
        self._lines = sock.makefile("rb")

    def next(self) -> m.FromWorker:
        return decode_from_worker(self._lines.readline())


@pytest.fixture
def fake() -> Iterator[tuple[FakeWorker, Controller, FakeClock]]:
    worker_end, controller_end = socket.socketpair()
    clock = FakeClock()
    worker = FakeWorker(worker_end, 1, "127.0.0.1", clock)
    yield worker, Controller(controller_end), clock
    worker.doorbell.close()
    worker_end.close()
    controller_end.close()


def answer(worker: FakeWorker, controller: Controller, clock: FakeClock, call_id: str) -> None:
    worker.handle(
        m.MakeCall(
            call_id=call_id,
            session_id="s1",
            request_uri="sip:+18144043093@127.0.0.1:5070",
            from_uri="sip:+12025550143@127.0.0.1",
            trunk="sipp",
        )
    )
    for _ in range(2):  # 180, then the answer
        clock.advance(SIGNALLING_SECONDS)
        worker.run_due()
    kinds = [type(controller.next()) for _ in range(3)]
    assert kinds == [m.InviteSent, m.CallProgress, m.CallAnswered]


def test_digits_are_answered_with_digits_sent(
    fake: tuple[FakeWorker, Controller, FakeClock],
) -> None:
    worker, controller, clock = fake
    answer(worker, controller, clock, "c1")
    worker.handle(m.SendDigits(call_id="c1", digits_id="digits-1", digits="12#"))
    assert controller.next() == m.DigitsSent(call_id="c1", digits_id="digits-1")


def test_a_transfer_is_accepted_with_202(fake: tuple[FakeWorker, Controller, FakeClock]) -> None:
    worker, controller, clock = fake
    answer(worker, controller, clock, "c1")
    worker.handle(m.Transfer(call_id="c1", transfer_id="t1", target_uri="sip:+1555@127.0.0.1"))
    assert controller.next() == m.TransferResult(
        call_id="c1", transfer_id="t1", accepted=True, sip_code=202, reason="Accepted"
    )


def test_digits_for_a_call_not_answered_fail_with_their_id(
    fake: tuple[FakeWorker, Controller, FakeClock],
) -> None:
    worker, controller, _ = fake
    worker.handle(m.SendDigits(call_id="c9", digits_id="digits-1", digits="1"))
    failed = controller.next()
    assert isinstance(failed, m.CommandFailed)
    assert (failed.call_id, failed.command, failed.subject_id) == ("c9", "send_digits", "digits-1")


def test_what_it_does_not_do_fails_as_a_command(
    fake: tuple[FakeWorker, Controller, FakeClock],
) -> None:
    worker, controller, clock = fake
    answer(worker, controller, clock, "c1")
    worker.handle(m.StopRecording(call_id="c1", recording_id="recording-1"))
    failed = controller.next()
    assert isinstance(failed, m.CommandFailed)
    assert (failed.command, failed.subject_id) == ("stop_recording", "recording-1")
