"""NewOutgoingSession served without FastAPI's routing and dependency solving.

Placing calls is the one request a load drives many times a second. FastAPI's routing, route
handling and dependency solving took 64 of the 148 µs of CPU that one such request cost inside
the ASGI app (`bench/api_request_cpu.py`, 2026-11-27). This middleware answers `POST` on the
operation's paths with the route's own endpoint, the same key check and the same error answers;
FastAPI keeps the routes for the OpenAPI document and for any other method.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.api.auth import require_roles
from engine.api.errors import known_error_response
from engine.api.keys import KeyStore


class NewSessionShortcut:
    """Sits inside CatchAllMiddleware (which counts the request by `scope["route"]` and answers
    an unexpected exception with a 500) and inside FormatMiddleware (suffixes, reply routes)."""

    def __init__(
        self,
        app: ASGIApp,
        keys: KeyStore,
        routes: Mapping[str, Route],
    ) -> None:
        self.app = app
        self._routes = routes
        """The FastAPI routes by path: each answers with its endpoint, and the request's metric
        label is its path template."""
        self._authorize = require_roles(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            await self._authorize(request)
            response = await route.endpoint(request)
        except Exception as exc:
            known = known_error_response(request, exc)
            if known is None:
                raise
            response = known
        await response(scope, receive, send)
