"""NewOutgoingSession served in front of FastAPI: no middleware stack, routing or dependency
solving.

Placing calls is the one request a load drives many times a second, and FastAPI's routing,
route handling and dependency solving are a large part of its CPU inside the ASGI app
(docs/field-notes.md, HTTP). This layer wraps the whole app and answers `POST` on the
operation's paths itself, with the route's own endpoint, the same key check, the same format
rules and error answers, and the same request count; FastAPI keeps the routes for the OpenAPI
document and answers everything else.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.api.auth import require_roles
from engine.api.errors import engine_error_response
from engine.api.keys import KeyStore
from engine.api.middleware import answer_counted, with_path_format
from engine.errors import EngineError


class NewSessionShortcut:
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
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        routed = with_path_format(scope)
        route = self._routes.get(routed["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        routed["route"] = route
        await answer_counted(self._place, routed, receive, send)

    async def _place(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        route: Route = scope["route"]
        try:
            await self._authorize(request)
            response = await route.endpoint(request)
        except EngineError as exc:
            response = engine_error_response(request, exc)
        await response(scope, receive, send)
