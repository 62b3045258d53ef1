"""Bad bodies: every one is a 4xx in the ServiceStack error shape, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from engine.api.body import MAX_BODY_BYTES
from tests.api.fakes import FakeBackend

XML = {"Content-Type": "application/xml", "Accept": "application/json"}
DOCTYPE_BODIES = [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>'
    b"<NewOutgoingSession><FlowId>&e;</FlowId></NewOutgoingSession>",
    b'<!DOCTYPE NewOutgoingSession SYSTEM "http://example.invalid/x.dtd"><NewOutgoingSession/>',
    b'<!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<NewOutgoingSession><FlowId>&b;</FlowId></NewOutgoingSession>",
]


def _error_code(response: httpx.Response) -> str:
    return str(response.json()["responseStatus"]["errorCode"])


@pytest.mark.parametrize("body", DOCTYPE_BODIES)
async def test_doctype_and_entities_are_refused(
    client: httpx.AsyncClient, backend: FakeBackend, body: bytes
) -> None:
    response = await client.post("/sessions/outgoing", content=body, headers=XML)

    assert response.status_code == 400
    assert _error_code(response) == "InvalidXml"
    assert backend.sessions == {}


@pytest.mark.parametrize(
    "body",
    [
        b"<NewOutgoingSession><FlowId>hello</FlowId>",
        b"not xml at all",
        b"<Other><FlowId>hello</FlowId></Other>",
        b'<NewOutgoingSession xmlns="urn:elsewhere"><FlowId>hello</FlowId></NewOutgoingSession>',
        b"<NewOutgoingSession><FlowId><x/></FlowId></NewOutgoingSession>",
        b'<?xml version="1.0" encoding="utf-8"?><NewOutgoingSession>\xff</NewOutgoingSession>',
    ],
)
async def test_malformed_or_unexpected_xml_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/sessions/outgoing", content=body, headers=XML)

    assert response.status_code == 400
    assert _error_code(response) == "InvalidXml"


async def test_xml_nil_member_is_null(client: httpx.AsyncClient) -> None:
    body = (
        b'<NewOutgoingSession xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        b'<FlowId>hello</FlowId><NumberToDial>+18144043093</NumberToDial><CallerId i:nil="true"/>'
        b"</NewOutgoingSession>"
    )

    response = await client.post("/sessions/outgoing", content=body, headers=XML)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "InvalidJson"),
        (b"[1, 2]", "InvalidJson"),
        (b'"text"', "InvalidJson"),
        (b"\xff\xfe{", "InvalidJson"),
        (b"[" * 20000 + b"]" * 20000, "InvalidJson"),
        (b'{"flowId": {"nested": 1}, "numberToDial": "+18144043093"}', "Invalid"),
        (b'{"flowId": ["hello"], "numberToDial": "+18144043093"}', "Invalid"),
        (b'{"flowId": true, "numberToDial": "+18144043093"}', "Invalid"),
    ],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, body: bytes, code: str) -> None:
    response = await client.post(
        "/sessions/outgoing", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert _error_code(response) == code


async def test_non_string_member_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/sessions/outgoing", json={"flowId": 5, "numberToDial": []})

    assert response.status_code == 400
    assert response.json()["responseStatus"]["errors"][0]["fieldName"] == "NumberToDial"


async def test_unknown_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions/outgoing", content=b"flowId: hello", headers={"Content-Type": "text/yaml"}
    )

    assert response.status_code == 415
    assert _error_code(response) == "UnsupportedMediaType"


async def test_declared_length_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"flowId": "' + b"x" * MAX_BODY_BYTES + b'"}'

    response = await client.post(
        "/sessions/outgoing", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert _error_code(response) == "RequestEntityTooLarge"


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    response = await client.post(
        "/sessions/outgoing", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413


async def test_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    body = b'{"flowId": "hello", "numberToDial": "+18144043093"}'
    body += b" " * (MAX_BODY_BYTES - len(body))

    response = await client.post(
        "/sessions/outgoing", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200


async def test_bad_content_length_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions/outgoing",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "two"},
    )

    assert response.status_code == 400


async def test_form_with_bad_utf8_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions/outgoing",
        content=b"flowId=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 400
