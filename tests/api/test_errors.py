"""The API's one mapping from the engine's errors to ServiceStack answers: one test per branch,
then every branch through both ways a request is served (NewSessionShortcut and FastAPI)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from engine.api.errors import INTERNAL_ERROR, ApiError, ErrorAnswer, answer_for
from engine.api.xmlwire import XmlBodyError
from engine.errors import (
    CallError,
    ConfigError,
    EngineError,
    FlowError,
    NoWorkerAvailable,
    Overloaded,
    QueueFull,
    RequestError,
    ToolError,
)
from engine.sessions.idempotency import IdempotencyKeyReused
from engine.sessions.validation import FieldError, ValidationFailed
from tests.api.fakes import FakeBackend

BODY = {"flowId": "hello", "numberToDial": "+18144043093"}


def test_an_api_error_keeps_its_own_status_code_and_headers() -> None:
    error = ApiError(401, "Unauthorized", "no key", headers={"WWW-Authenticate": "Bearer"})

    assert answer_for(error) == ErrorAnswer(
        401, "Unauthorized", "no key", headers={"WWW-Authenticate": "Bearer"}
    )


def test_an_api_error_is_only_ever_a_4xx() -> None:
    with pytest.raises(ValueError, match="4xx"):
        ApiError(503, "ServiceUnavailable", "not the client's mistake")


def test_a_validation_failure_is_400_with_the_first_field_and_every_field() -> None:
    flow = FieldError("FlowId", "FlowId is required", "NotEmpty")
    number = FieldError("NumberToDial", "bad number", "InvalidPhoneNumber")

    answer = answer_for(ValidationFailed([flow, number]))

    assert answer == ErrorAnswer(400, "NotEmpty", "FlowId is required", (flow, number))
    assert "Retry-After" not in answer.headers


def test_a_reused_idempotency_key_is_422_naming_the_key_and_each_differing_field() -> None:
    error = IdempotencyKeyReused("k1", "s1", ["CallerId", "FlowId"])

    answer = answer_for(error)

    assert (answer.status_code, answer.error_code, answer.message) == (
        422,
        "IdempotencyKeyReused",
        "Idempotency-Key 'k1' was already used for session s1, with another CallerId, FlowId",
    )
    assert [(e.field_name, e.error_code) for e in answer.errors] == [
        ("Idempotency-Key", "Reused"),
        ("CallerId", "Invalid"),
        ("FlowId", "Invalid"),
    ]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (XmlBodyError("not XML"), ErrorAnswer(400, "InvalidXml", "not XML")),
        (
            RequestError("a key name may not be blank", field="Name"),
            ErrorAnswer(
                400,
                "ValidationError",
                "a key name may not be blank",
                (FieldError("Name", "a key name may not be blank", "ValidationError"),),
            ),
        ),
    ],
    ids=["without a field", "naming a field"],
)
def test_any_other_request_error_is_400_with_its_code(
    error: RequestError, expected: ErrorAnswer
) -> None:
    assert answer_for(error) == expected


@pytest.mark.parametrize(
    ("error", "code", "retry_after"),
    [
        (QueueFull(7), "QueueFull", "7"),
        (QueueFull(0), "QueueFull", "1"),
        (Overloaded(2, "behind"), "Overloaded", "2"),
    ],
)
def test_a_full_queue_or_an_overloaded_engine_is_503_with_retry_after(
    error: QueueFull, code: str, retry_after: str
) -> None:
    answer = answer_for(error)

    assert (answer.status_code, answer.error_code) == (503, code)
    assert answer.headers == {"Retry-After": retry_after}


def test_the_engine_otherwise_unavailable_is_503_without_retry_after() -> None:
    answer = answer_for(NoWorkerAvailable("the engine is stopping"))

    assert answer == ErrorAnswer(503, "ServiceUnavailable", "the engine is stopping")


@pytest.mark.parametrize(
    "error",
    [
        EngineError("secret"),
        CallError("secret", 503),
        FlowError("secret", "flows/x.yaml:1:1"),
        ConfigError("secret"),
        ToolError("secret"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_any_other_engine_error_is_a_generic_500(error: EngineError) -> None:
    assert answer_for(error) is INTERNAL_ERROR


# Through the app: the same answers whichever way the request is served.


def _failing_place(error: Exception) -> Callable[[FakeBackend], None]:
    def patch(backend: FakeBackend) -> None:
        async def place(*_: object, **__: object) -> None:
            raise error

        backend.create_outgoing_session = place  # type: ignore[method-assign, assignment]

    return patch


def _failing_get(error: Exception) -> Callable[[FakeBackend], None]:
    def patch(backend: FakeBackend) -> None:
        def get(*_: object, **__: object) -> None:
            raise error

        backend.get_session = get  # type: ignore[method-assign, assignment]

    return patch


BRANCHES = [
    pytest.param(
        ValidationFailed([FieldError("FlowId", "FlowId is required", "NotEmpty")]),
        400,
        "NotEmpty",
        None,
        id="ValidationFailed",
    ),
    pytest.param(IdempotencyKeyReused("k1", "s1", ["FlowId"]), 422, "IdempotencyKeyReused", None),
    pytest.param(XmlBodyError("not XML"), 400, "InvalidXml", None, id="XmlBodyError"),
    pytest.param(ApiError(404, "NotFound", "gone"), 404, "NotFound", None, id="ApiError"),
    pytest.param(QueueFull(7), 503, "QueueFull", "7", id="QueueFull"),
    pytest.param(Overloaded(1, "behind"), 503, "Overloaded", "1", id="Overloaded"),
    pytest.param(NoWorkerAvailable("stopping"), 503, "ServiceUnavailable", None, id="Unavailable"),
    pytest.param(CallError("secret"), 500, "InternalServerError", None, id="CallError"),
]


@pytest.mark.parametrize(("error", "status", "code", "retry_after"), BRANCHES)
@pytest.mark.parametrize(
    ("served_by", "method", "path", "patch"),
    [
        ("shortcut", "POST", "/sessions/outgoing", _failing_place),
        ("fastapi", "GET", "/sessions/s1", _failing_get),
    ],
    ids=["shortcut", "fastapi"],
)
async def test_each_branch_answers_the_same_whichever_way_it_is_served(
    client: httpx.AsyncClient,
    backend: FakeBackend,
    error: EngineError,
    status: int,
    code: str,
    retry_after: str | None,
    served_by: str,
    method: str,
    path: str,
    patch: Callable[[Exception], Callable[[FakeBackend], None]],
) -> None:
    patch(error)(backend)

    response = await client.request(method, path, json=BODY if method == "POST" else None)

    assert response.status_code == status
    assert response.json()["responseStatus"]["errorCode"] == code
    assert response.headers.get("retry-after") == retry_after


@pytest.mark.parametrize(
    ("method", "path", "patch"),
    [
        ("POST", "/xml/reply/NewOutgoingSession", _failing_place),
        ("GET", "/sessions/s1.xml", _failing_get),
    ],
    ids=["shortcut", "fastapi"],
)
async def test_an_engine_error_that_is_not_the_clients_is_logged_and_not_shown(
    client: httpx.AsyncClient,
    backend: FakeBackend,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    patch: Callable[[Exception], Callable[[FakeBackend], None]],
) -> None:
    patch(CallError("secret detail"))(backend)

    with caplog.at_level(logging.ERROR):
        response = await client.request(method, path, json=BODY if method == "POST" else None)

    assert response.status_code == 500
    assert response.text == (
        '<?xml version="1.0" encoding="utf-8"?><ErrorResponse '
        'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns="http://schemas.servicestack.net/types"><ResponseStatus>'
        "<ErrorCode>InternalServerError</ErrorCode><Message>internal error</Message>"
        "<Errors></Errors></ResponseStatus></ErrorResponse>"
    )
    assert "secret detail" in caplog.text


async def test_the_answers_that_existed_before_the_mapping_are_byte_for_byte_the_same(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    key = {"Idempotency-Key": "k1"}
    await client.post("/sessions/outgoing", json=BODY, headers=key)
    reused = await client.post("/sessions/outgoing", json={**BODY, "flowId": "survey"}, headers=key)
    invalid = await client.post("/sessions/outgoing", json={"flowId": "nope", "numberToDial": "1"})
    bad_xml = await client.post(
        "/json/reply/NewOutgoingSession",
        content=b"<nope/>",
        headers={"Content-Type": "application/xml"},
    )
    backend.queue_full_retry_after = 7
    full = await client.post("/sessions/outgoing.xml", json=BODY)

    assert reused.content == (
        b'{"responseStatus":{"errorCode":"IdempotencyKeyReused","message":"Idempotency-Key '
        b'\'k1\' was already used for session s1, with another FlowId","errors":['
        b'{"errorCode":"Reused","fieldName":"Idempotency-Key","message":"Idempotency-Key '
        b"'k1' was already used for session s1, with another FlowId\"},"
        b'{"errorCode":"Invalid","fieldName":"FlowId",'
        b'"message":"differs from the request that created session s1"}]}}'
    )
    assert invalid.content == (
        b'{"responseStatus":{"errorCode":"NotFound","message":"no valid flow with id \'nope\'",'
        b'"errors":[{"errorCode":"NotFound","fieldName":"FlowId",'
        b'"message":"no valid flow with id \'nope\'"},'
        b'{"errorCode":"InvalidPhoneNumber","fieldName":"NumberToDial",'
        b'"message":"\'1\' is not a valid E.164 number (e.g. +18144043093)"}]}}'
    )
    assert bad_xml.content == (
        b'{"responseStatus":{"errorCode":"InvalidXml",'
        b'"message":"expected a <NewOutgoingSession> element, got <nope>","errors":[]}}'
    )
    assert (full.status_code, full.headers["retry-after"]) == (503, "7")
    assert full.content == (
        b'<?xml version="1.0" encoding="utf-8"?><ErrorResponse '
        b'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
        b'xmlns="http://schemas.servicestack.net/types"><ResponseStatus>'
        b"<ErrorCode>QueueFull</ErrorCode><Message>the call queue is full</Message>"
        b"<Errors></Errors></ResponseStatus></ErrorResponse>"
    )
