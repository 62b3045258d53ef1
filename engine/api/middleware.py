"""Two pure ASGI middlewares: the format named by the path; counting requests and the
last-resort 500."""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.errors import internal_error
from engine.api.formats import FORMAT_STATE_KEY, Format
from engine.metrics import api_requests_total

log = logging.getLogger(__name__)

_SUFFIXES = {".json": Format.JSON, ".xml": Format.XML}
_REPLY_PREFIXES = {"/json/reply/": Format.JSON, "/xml/reply/": Format.XML}
# Only API paths take a suffix: /openapi.json is a file name, not a format request.
_SUFFIXED_PATHS = ("/sessions", "/phone-numbers")


class FormatMiddleware:
    """Notes the format a path names, and strips a `.json`/`.xml` suffix before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = with_path_format(scope)
        await self.app(scope, receive, send)


def with_path_format(scope: Scope) -> Scope:
    """`scope` with the format its path names noted, and a suffix stripped (a copy if so)."""
    path: str = scope["path"]
    for prefix, fmt in _REPLY_PREFIXES.items():
        if path.startswith(prefix):
            return {**scope, "state": {**scope.get("state", {}), FORMAT_STATE_KEY: fmt}}
    if not path.startswith(_SUFFIXED_PATHS):
        return scope
    for suffix, fmt in _SUFFIXES.items():
        if path.endswith(suffix):
            raw_path: bytes = scope.get("raw_path") or path.encode("utf-8")
            if raw_path.endswith(suffix.encode()):
                raw_path = raw_path[: -len(suffix)]
            return {
                **scope,
                "path": path[: -len(suffix)],
                "raw_path": raw_path,
                "state": {**scope.get("state", {}), FORMAT_STATE_KEY: fmt},
            }
    return scope


class CatchAllMiddleware:
    """Counts each request by route template and status; answers an unexpected exception with a
    generic 500 ErrorResponse and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await answer_counted(self.app, scope, receive, send)


async def answer_counted(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """`app`'s answer to an HTTP request, counted; a generic 500 if it raises before answering."""
    status: int | None = None

    async def tracking_send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except Exception:
        log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
        if status is not None:
            raise
        status = 500
        response = internal_error(HTTPConnection(scope))
        await response(scope, receive, send)
    finally:
        _count(scope, status)


def _count(scope: Scope, status: int | None) -> None:
    # The router stores the matched route in the scope; unmatched paths share one label so
    # scanners cannot grow the metric's label set.
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    api_requests_total.labels(route=route, status=str(status or 0)).inc()
