"""The composition root: the engine, its event bus and its HTTP API wired together and run.

`voice-engine serve` runs `serve(config)`; the demo and the load-test tool use
`running_engine` and `api_with_temporary_key`. Nothing here imports the tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Iterator

import uvicorn

from engine.api.app import create_app
from engine.api.keys import KeyStore
from engine.clock import SystemClock
from engine.config import EngineConfig
from engine.controller.engine import Engine
from engine.errors import EngineError
from engine.events.bus import EventBus

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running_engine(config: EngineConfig) -> AsyncIterator[tuple[Engine, EventBus]]:
    """The engine with its event bus, started; drained and stopped on exit."""
    bus = EventBus.from_config(config)
    await bus.start()
    engine = Engine(config, events=bus, clock=SystemClock())
    try:
        await engine.start()
    except BaseException:
        await engine.stop(drain_seconds=0)
        await bus.stop()
        raise
    try:
        yield engine, bus
    finally:
        await engine.stop()
        await bus.stop()


def http_server(config: EngineConfig, engine: Engine, keys: KeyStore) -> uvicorn.Server:
    app = create_app(engine, keys)
    server_config = uvicorn.Config(
        app,
        host=config.http.host,
        port=config.http.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="httptools",
        # Longer than clients' idle expiry (httpx: 5 s, aiohttp: 15 s), so a request never
        # meets a closing connection (uvicorn's default is 5 s too: a race).
        timeout_keep_alive=30,
    )
    return _EngineHttpServer(server_config)


@contextlib.asynccontextmanager
async def api_with_temporary_key(
    config: EngineConfig, engine: Engine, purpose: str
) -> AsyncIterator[tuple[str, str, str]]:
    """The HTTP API of a running engine and a Manager key made for it (the demo, a load run);
    yields (base URL, key, key name). The key is revoked and the server stopped on exit."""
    keys = KeyStore(config.store.path)
    key_name = f"{purpose}-{int(time.time() * 1000)}"
    key = keys.create(["Manager"], name=key_name)
    server = http_server(config, engine, keys)
    serving = asyncio.ensure_future(server.serve())
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if serving.done() or time.monotonic() > deadline:
                raise EngineError("the HTTP API did not start")
            await asyncio.sleep(0.02)
        freeze_startup_objects()
        yield f"http://{config.http.host}:{config.http.port}", key, key_name
    finally:
        server.should_exit = True
        await serving
        keys.revoke(key_name)
        keys.close()


def freeze_startup_objects() -> None:
    """Keep what start-up made (modules, flows, the app: most of what the collector tracks) out
    of its full passes, which every call's timers and messages wait for (docs/field-notes.md,
    Python)."""
    gc.collect()
    gc.freeze()


class _EngineHttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: SIGTERM first drains the engine (serve())."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(config: EngineConfig) -> None:
    keys = KeyStore(config.store.path)
    async with running_engine(config) as (engine, _bus):
        server = http_server(config, engine, keys)
        log.info(
            "voice-engine %s listening on http://%s:%d",
            config.node_id,
            config.http.host,
            config.http.port,
        )
        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_requested.set)
        http_task = asyncio.ensure_future(server.serve())
        freeze_startup_objects()
        stop_task = asyncio.ensure_future(stop_requested.wait())
        await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        # The API stays up while draining: sessions can be followed, new ones get 503.
        log.info("stopping: draining live calls for up to %.0f s", config.drain_seconds)
        await engine.stop()
        server.should_exit = True
        await http_task
    keys.close()
