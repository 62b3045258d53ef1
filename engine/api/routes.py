"""The session and phone-number routes: NewOutgoingSession, SessionInfo, QueryResponse."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Security
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from engine.api.auth import basic_scheme, bearer_scheme, require_roles
from engine.api.backend import VoiceBackend
from engine.api.body import FORM_MEDIA_TYPE, read_dto
from engine.api.dto import (
    ErrorResponse,
    NewOutgoingSession,
    PhoneNumberInfo,
    PhoneNumbersResponse,
    QuerySessionsResponse,
    SessionInfo,
)
from engine.api.errors import ApiError
from engine.api.formats import negotiate, render
from engine.api.keys import KeyStore
from engine.sessions.idempotency import HEADER as IDEMPOTENCY_HEADER
from engine.sessions.idempotency import check_key

MAX_TAKE = 1000
DEFAULT_TAKE = 50

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        401: "no valid API key",
        403: "the key lacks the Manager or SystemAdministrator role",
    }.items()
}
_BODY_SCHEMA = NewOutgoingSession.model_json_schema(by_alias=True)
_NEW_SESSION_BODY = {
    "requestBody": {
        "content": {
            media: {"schema": _BODY_SCHEMA}
            for media in ("application/json", "application/xml", FORM_MEDIA_TYPE)
        }
    }
}
NEW_SESSION_PATH = "/sessions/outgoing"
NEW_SESSION_ALIASES = ("/json/reply/NewOutgoingSession", "/xml/reply/NewOutgoingSession")
"""The operation's ServiceStack predefined routes, beside its REST route."""


def sessions_router(backend: VoiceBackend, keys: KeyStore) -> APIRouter:
    router = APIRouter(
        dependencies=[
            Depends(require_roles(keys)),
            Security(bearer_scheme),
            Security(basic_scheme),
        ],
        responses=_ERRORS,
    )

    async def new_outgoing_session(request: Request) -> Response:
        """Validate, store and start placing a call; answers its SessionInfo."""
        idempotency_key = check_key(request.headers.get(IDEMPOTENCY_HEADER))
        dto = await read_dto(request, NewOutgoingSession)
        session = await backend.create_outgoing_session(
            dto.flow_id or "",
            dto.number_to_dial or "",
            dto.caller_id,
            idempotency_key=idempotency_key,
        )
        return render(SessionInfo.from_session(session), negotiate(request))

    new_session_responses: dict[int | str, dict[str, Any]] = {
        200: {"model": SessionInfo},
        400: {
            "model": ErrorResponse,
            "description": "invalid field(s) or Idempotency-Key, or a malformed body",
        },
        413: {"model": ErrorResponse, "description": "body over 64 KiB"},
        415: {"model": ErrorResponse, "description": "not JSON, XML or a form"},
        422: {
            "model": ErrorResponse,
            "description": "the Idempotency-Key came with other fields before",
        },
        503: {
            "model": ErrorResponse,
            "description": "call queue full, engine overloaded or shutting down; see Retry-After",
        },
    }
    router.add_api_route(
        NEW_SESSION_PATH,
        new_outgoing_session,
        methods=["POST"],
        operation_id="NewOutgoingSession",
        responses=new_session_responses,
        openapi_extra=_NEW_SESSION_BODY,
    )
    for path in NEW_SESSION_ALIASES:
        router.add_api_route(path, new_outgoing_session, methods=["POST"], include_in_schema=False)

    @router.get(
        "/sessions",
        operation_id="QuerySessions",
        responses={200: {"model": QuerySessionsResponse}},
    )
    async def query_sessions(
        request: Request,
        skip: int = Query(0, ge=0),
        take: int = Query(DEFAULT_TAKE, ge=1, le=MAX_TAKE),
    ) -> Response:
        """A page of sessions, newest first."""
        sessions, total = backend.list_sessions(skip, take)
        page = QuerySessionsResponse(
            offset=skip, total=total, results=[SessionInfo.from_session(s) for s in sessions]
        )
        return render(page, negotiate(request))

    @router.get(
        "/sessions/{session_id}",
        operation_id="GetSession",
        responses={200: {"model": SessionInfo}, 404: {"model": ErrorResponse}},
    )
    async def get_session(request: Request, session_id: str) -> Response:
        session = backend.get_session(session_id)
        if session is None:
            raise _no_session(session_id)
        return render(SessionInfo.from_session(session), negotiate(request))

    @router.delete(
        "/sessions/{session_id}",
        operation_id="EndSession",
        responses={200: {"model": SessionInfo}, 404: {"model": ErrorResponse}},
    )
    async def end_session(request: Request, session_id: str) -> Response:
        """Hang up an answered call, or cancel one not answered yet."""
        session = await backend.end_session(session_id)
        if session is None:
            raise _no_session(session_id)
        return render(SessionInfo.from_session(session), negotiate(request))

    @router.get(
        "/phone-numbers",
        operation_id="GetPhoneNumbers",
        responses={200: {"model": PhoneNumbersResponse}},
    )
    async def phone_numbers(request: Request) -> Response:
        """The owned numbers usable as caller IDs, each with its trunk."""
        numbers = [PhoneNumberInfo.from_owned(n) for n in backend.phone_numbers()]
        return render(PhoneNumbersResponse(results=numbers), negotiate(request))

    return router


def new_session_routes(router: APIRouter) -> dict[str, APIRoute]:
    """NewOutgoingSession's POST routes in `router`, by path (for NewSessionShortcut).

    Read from the router itself: FastAPI's app keeps an included router as one entry of its
    own routes, not as copies of the router's routes."""
    paths = (NEW_SESSION_PATH, *NEW_SESSION_ALIASES)
    return {
        route.path: route
        for route in router.routes
        if isinstance(route, APIRoute) and route.path in paths and "POST" in (route.methods or ())
    }


def _no_session(session_id: str) -> ApiError:
    return ApiError(404, "NotFound", f"no session with id {session_id!r}")
