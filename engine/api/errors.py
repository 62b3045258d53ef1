"""Errors as ServiceStack answers them: an ErrorResponse holding a ResponseStatus, in the
negotiated format. Every failure of a request ends up in one of these handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from engine.api.dto import ErrorResponse, ResponseError, ResponseStatus
from engine.api.formats import negotiate, render
from engine.api.xmlwire import pascal
from engine.errors import QueueFull
from engine.sessions.idempotency import HEADER as IDEMPOTENCY_HEADER
from engine.sessions.idempotency import IdempotencyKeyReused
from engine.sessions.validation import FieldError, ValidationFailed

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request failed with a known status; raised by routes and turned into an ErrorResponse."""

    def __init__(
        self,
        status_code: int,
        error_code: str,
        message: str,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})


def error_response(connection: HTTPConnection, error: ApiError) -> Response:
    status = ResponseStatus(
        error_code=error.error_code,
        message=error.message,
        errors=[ResponseError.from_field_error(e) for e in error.errors],
    )
    return render(
        ErrorResponse(response_status=status),
        negotiate(connection),
        error.status_code,
        error.headers,
    )


def internal_error(connection: HTTPConnection) -> Response:
    return error_response(connection, ApiError(500, "InternalServerError", "internal error"))


def install(app: FastAPI) -> None:
    """Register the handlers for every exception a route may raise on purpose."""
    for known in (ApiError, ValidationFailed, QueueFull, IdempotencyKeyReused):
        app.add_exception_handler(known, _known_error)
    app.add_exception_handler(HTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _bad_parameters)  # type: ignore[arg-type]


def known_error_response(connection: HTTPConnection, exc: Exception) -> Response | None:
    """The answer to an exception a route raises on purpose; None for any other exception."""
    if isinstance(exc, ApiError):
        return error_response(connection, exc)
    if isinstance(exc, ValidationFailed):
        first = exc.errors[0] if exc.errors else FieldError("", str(exc), "ValidationError")
        return error_response(
            connection, ApiError(400, first.error_code, first.message, exc.errors)
        )
    if isinstance(exc, IdempotencyKeyReused):
        errors = [FieldError(IDEMPOTENCY_HEADER, str(exc), "Reused")]
        errors += [
            FieldError(name, f"differs from the request that created session {exc.session_id}")
            for name in exc.fields
        ]
        return error_response(connection, ApiError(422, "IdempotencyKeyReused", str(exc), errors))
    if isinstance(exc, QueueFull):
        retry_after = {"Retry-After": str(max(1, exc.retry_after_seconds))}
        return error_response(
            connection,
            ApiError(
                503, exc.error_code, str(exc) or "the call queue is full", headers=retry_after
            ),
        )
    return None


async def _known_error(request: Request, exc: Exception) -> Response:
    response = known_error_response(request, exc)
    if response is None:  # registered only for the known types
        raise exc
    return response


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    code = phrase.title().replace(" ", "").replace("-", "")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase
    return error_response(request, ApiError(exc.status_code, code, message, headers=exc.headers))


async def _bad_parameters(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        FieldError(pascal(str(e["loc"][-1])) if e.get("loc") else "", e["msg"], "Invalid")
        for e in exc.errors()
    ]
    first = errors[0] if errors else FieldError("", "invalid request", "Invalid")
    return error_response(request, ApiError(400, first.error_code, first.message, errors))
