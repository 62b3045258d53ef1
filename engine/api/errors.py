"""Errors as ServiceStack answers them: an ErrorResponse holding a ResponseStatus, in the
negotiated format.

`answer_for` is the one place where the engine's errors (engine.errors) become HTTP answers;
the handlers here and NewSessionShortcut both go through it. FastAPI's own refusals (an unknown
route, a bad query parameter) are answered here too, in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from engine.api.dto import ErrorResponse, ResponseError, ResponseStatus
from engine.api.formats import negotiate, render
from engine.api.xmlwire import pascal
from engine.errors import EngineError, EngineUnavailable, QueueFull, RequestError
from engine.sessions.idempotency import HEADER as IDEMPOTENCY_HEADER
from engine.sessions.idempotency import IdempotencyKeyReused
from engine.sessions.validation import FieldError, ValidationFailed

log = logging.getLogger(__name__)


class ApiError(RequestError):
    """A request the HTTP layer refuses itself, with the 4xx status it names: no valid key, no
    such session, a body it cannot read.

    In the tree under RequestError because every one is the client's mistake; the answers for
    the engine's other failures (503, 500) are made by `answer_for` and never raised."""

    def __init__(
        self,
        status_code: int,
        error_code: str,
        message: str,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not 400 <= status_code < 500:
            raise ValueError(f"ApiError is a client's mistake (4xx), not {status_code}")
        super().__init__(message, code=error_code)
        self.status_code = status_code
        self.errors = list(errors)
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class ErrorAnswer:
    """What the API answers for a failed request, before it is written in the request's format."""

    status_code: int
    """The HTTP status."""
    error_code: str
    """ResponseStatus.ErrorCode: what failed, for a program."""
    message: str
    """ResponseStatus.Message: what failed, for a person."""
    errors: tuple[FieldError, ...] = ()
    """ResponseStatus.Errors: one entry per field at fault."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Headers the answer adds (Retry-After, WWW-Authenticate)."""


INTERNAL_ERROR = ErrorAnswer(500, "InternalServerError", "internal error")
"""The answer to a failure that is not the client's: nothing about it leaves the engine."""


def answer_for(error: EngineError) -> ErrorAnswer:
    """The ServiceStack answer to one of the engine's errors: the API's only such mapping."""
    match error:
        case ApiError():
            return ErrorAnswer(
                error.status_code, error.code, error.message, tuple(error.errors), error.headers
            )
        case IdempotencyKeyReused():
            reused = FieldError(IDEMPOTENCY_HEADER, str(error), "Reused")
            differing = [
                FieldError(
                    name, f"differs from the request that created session {error.session_id}"
                )
                for name in error.fields
            ]
            return ErrorAnswer(422, error.code, str(error), (reused, *differing))
        case ValidationFailed():
            return ErrorAnswer(400, error.code, error.message, tuple(error.errors))
        case RequestError():
            named = (FieldError(error.field, error.message, error.code),) if error.field else ()
            return ErrorAnswer(400, error.code, error.message, named)
        case QueueFull():
            return ErrorAnswer(
                503,
                error.error_code,
                str(error) or "the call queue is full",
                headers={"Retry-After": str(max(1, error.retry_after_seconds))},
            )
        case EngineUnavailable():
            message = str(error) or "the engine cannot take the request now"
            return ErrorAnswer(503, "ServiceUnavailable", message)
        case _:
            return INTERNAL_ERROR


def error_response(connection: HTTPConnection, answer: ErrorAnswer) -> Response:
    """`answer` as an ErrorResponse in the format the request negotiated."""
    status = ResponseStatus(
        error_code=answer.error_code,
        message=answer.message,
        errors=[ResponseError.from_field_error(e) for e in answer.errors],
    )
    return render(
        ErrorResponse(response_status=status),
        negotiate(connection),
        answer.status_code,
        answer.headers,
    )


def engine_error_response(connection: HTTPConnection, error: EngineError) -> Response:
    """The answer to an engine error a route raised; one that is not the client's nor a
    capacity limit is logged, as it is answered with a bare 500."""
    answer = answer_for(error)
    if answer is INTERNAL_ERROR:
        log.error(
            "engine error in %s %s",
            connection.scope.get("method"),
            connection.url.path,
            exc_info=error,
        )
    return error_response(connection, answer)


def internal_error(connection: HTTPConnection) -> Response:
    return error_response(connection, INTERNAL_ERROR)


def install(app: FastAPI) -> None:
    """Register the handlers for the engine's errors and FastAPI's own refusals."""
    app.add_exception_handler(EngineError, _engine_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _bad_parameters)  # type: ignore[arg-type]


async def _engine_error(request: Request, exc: EngineError) -> Response:
    return engine_error_response(request, exc)


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    code = phrase.title().replace(" ", "").replace("-", "")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase
    return error_response(
        request, ErrorAnswer(exc.status_code, code, message, (), exc.headers or {})
    )


async def _bad_parameters(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        FieldError(pascal(str(e["loc"][-1])) if e.get("loc") else "", e["msg"], "Invalid")
        for e in exc.errors()
    ]
    first = errors[0] if errors else FieldError("", "invalid request", "Invalid")
    return error_response(request, ErrorAnswer(400, first.error_code, first.message, tuple(errors)))
