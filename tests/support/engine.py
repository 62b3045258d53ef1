"""A real engine on loopback for integration tests: free ports, a temporary store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from engine.config import EngineConfig
from engine.controller.engine import Engine
from engine.sessions.model import Session
from engine.tools.sipp.ports import free_udp_port_range
from engine.tools.sipp.runner import SippUas

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "flows"
TTS_CACHE = REPO / "var" / "tts-cache"
"""Shared between runs: a prompt is rendered once."""


def engine_config(
    tmp_path: Path,
    trunk_port: int,
    *,
    flows_dir: Path = FLOWS,
    trunk: dict[str, Any] | None = None,
    workers: dict[str, Any] | None = None,
    numbers: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> EngineConfig:
    worker_settings: dict[str, Any] = {"min_workers": 1, "max_workers": 2}
    worker_settings.update(workers or {})
    ports = worker_settings.get("rtp_ports_per_worker", 40) * worker_settings["max_workers"]
    worker_settings.setdefault("rtp_port_base", free_udp_port_range(ports))
    trunk_settings: dict[str, Any] = {
        "name": "sipp",
        "host": "127.0.0.1",
        "port": trunk_port,
        "ring_timeout_seconds": 10,
    }
    trunk_settings.update(trunk or {})
    raw: dict[str, Any] = {
        "node_id": "test-node",
        "store": {"path": str(tmp_path / "engine.db")},
        "flows_dir": str(flows_dir),
        "recordings_dir": str(tmp_path / "recordings"),
        "tts": {"cache_dir": str(TTS_CACHE)},
        "workers": worker_settings,
        "trunks": [trunk_settings],
        "numbers": numbers
        or [
            {"number": "+12025550143", "trunk": trunk_settings["name"]},
            {"number": "+12025550144", "trunk": trunk_settings["name"]},
        ],
        "drain_seconds": 5,
    }
    raw.update(extra)
    return EngineConfig.model_validate(raw)


@contextlib.asynccontextmanager
async def running(config: EngineConfig, **kwargs: Any) -> AsyncIterator[Engine]:
    engine = Engine(config, **kwargs)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop(drain_seconds=0)


async def wait_for_end(engine: Engine, session_id: str, timeout: float = 30.0) -> Session:
    call = engine.calls.get(session_id)
    if call is not None:
        await asyncio.wait_for(call.done.wait(), timeout)
    session = engine.get_session(session_id)
    assert session is not None, f"no session {session_id}"
    assert session.outcome is not None, f"session {session_id} has no final state"
    return session


async def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


def messages(session: Session) -> list[str]:
    return [entry.message for entry in session.log]


DESTINATION = "+18144043093"
HOLD_FLOW = """\
name: Hold
description: Keep the call up (the test hangs it up).
start: wait
steps:
  wait:
    type: pause
    seconds: 60
    next: done
  done:
    type: hangup
"""


def hold_flows(tmp_path: Path, **more: str) -> Path:
    """A flows folder with `hold` and any `more` flows (id: YAML text)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    for flow_id, text in {"hold": HOLD_FLOW, **more}.items():
        (flows / f"{flow_id}.yaml").write_text(text)
    return flows


@contextlib.asynccontextmanager
async def hold_engine(tmp_path: Path, **config: Any) -> AsyncIterator[tuple[Engine, EngineConfig]]:
    """A running engine whose `hold` flow keeps calls up, against a SIPp UAS echoing RTP."""
    with SippUas("uas-answer-echo-wait-bye", rtp_echo=True) as uas:
        engine_settings = engine_config(
            tmp_path, uas.port, flows_dir=hold_flows(tmp_path), **config
        )
        async with running(engine_settings) as engine:
            yield engine, engine_settings


async def place_holds(engine: Engine, count: int) -> list[str]:
    return [
        (await engine.create_outgoing_session("hold", DESTINATION, None)).id for _ in range(count)
    ]
