"""Fixtures for tests of the real SIP worker against real SIPp on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.ipc.messages import CallAnswered, ConfigureTrunk, MakeCall
from engine.tools.sipp.runner import SippUas
from tests.support.audio import tone_wav  # noqa: F401  (a fixture for these tests)
from tests.support.worker_process import WorkerProcess

TRUNK = "sipp"
CALLER = "+12025550143"
CALLEE = "+18144043093"
USERNAME, PASSWORD = "alice", "secret"
"""uas-auth-401.xml's default -key username / password."""


@pytest.fixture
async def worker() -> AsyncIterator[WorkerProcess]:
    process = WorkerProcess(max_calls=4)
    await process.start()
    try:
        await process.send(trunk())
        yield process
    finally:
        code = await process.stop()
        process.stderr_path.unlink(missing_ok=True)
    assert code == 0, process.tail()


def trunk(password: str = PASSWORD) -> ConfigureTrunk:
    return ConfigureTrunk(
        name=TRUNK,
        registrar_uri=None,
        id_uri="sip:engine@127.0.0.1",
        username=USERNAME,
        password=password,
    )


def make_call(uas: SippUas, call_id: str = "c1", **fields: object) -> MakeCall:
    values: dict[str, object] = {
        "call_id": call_id,
        "session_id": f"session-{call_id}",
        "request_uri": uas.uri(CALLEE),
        "from_uri": f"sip:{CALLER}@127.0.0.1",
        "trunk": TRUNK,
    }
    return MakeCall.model_validate(values | fields)


async def answered_call(worker: WorkerProcess, uas: SippUas, call_id: str = "c1") -> None:
    await worker.send(make_call(uas, call_id))
    await worker.wait_for(CallAnswered, call_id=call_id)
