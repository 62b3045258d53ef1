"""The HTTP API application: `create_app(backend, keys)`.

Outermost is NewSessionShortcut: it places calls itself, in front of everything FastAPI does.
Any other request goes to FastAPI, whose middleware, outermost first, is FormatMiddleware (reads
a format off the path), CatchAllMiddleware (a generic 500 in that format), then FastAPI's own
exception handling.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from engine.api import errors
from engine.api.backend import VoiceBackend
from engine.api.keys import KeyStore
from engine.api.middleware import CatchAllMiddleware, FormatMiddleware
from engine.api.routes import new_session_routes, sessions_router
from engine.api.shortcut import NewSessionShortcut

log = logging.getLogger(__name__)


def create_app(backend: VoiceBackend, keys: KeyStore) -> ASGIApp:
    app = FastAPI(
        title="voice-engine",
        summary="Programmable outbound calls on your own SIP trunks (ServiceStack-style API)",
        version="0.1.0",
    )
    errors.install(app)
    router = sessions_router(backend, keys)
    app.include_router(router)

    @app.get("/health", tags=["operations"])
    async def health() -> Response:
        """The process is alive (no auth)."""
        return JSONResponse({"status": "alive"})

    @app.get("/ready", tags=["operations"])
    async def ready() -> Response:
        """200 when every readiness check passes, else 503 (no auth)."""
        try:
            checks = backend.readiness()
        except Exception:
            log.exception("readiness check failed")
            return JSONResponse({"ready": False, "checks": {}}, status_code=503)
        is_ready = all(checks.values())
        return JSONResponse(
            {"ready": is_ready, "checks": checks}, status_code=200 if is_ready else 503
        )

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus metrics of this process (no auth)."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(FormatMiddleware)
    return NewSessionShortcut(app, keys=keys, routes=new_session_routes(router))
