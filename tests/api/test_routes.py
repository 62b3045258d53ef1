"""The session routes over every body and response format, against the fake backend."""

from __future__ import annotations

import httpx
import pytest

from engine.errors import Overloaded
from tests.api.fakes import FakeBackend

SESSIONS_NS = "http://schemas.datacontract.org/2004/07/Voice.Api.Sessions"
SAMPLE_XML = (
    '<NewOutgoingSession xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns="http://schemas.datacontract.org/2004/07/Voice.Api.Sessions">\n'
    "<CallerId>{caller}</CallerId>\n"
    "<FlowId>{flow}</FlowId>\n"
    "<NumberToDial>{number}</NumberToDial>\n"
    "</NewOutgoingSession>"
)


@pytest.mark.parametrize(
    "body",
    [
        {"flowId": "hello", "numberToDial": "+18144043093", "callerId": "+12025550143"},
        {"FlowId": "hello", "NumberToDial": "+18144043093", "CallerId": "+12025550143"},
        {"flowid": "hello", "numbertodial": "+18144043093", "CALLERID": "+12025550143"},
    ],
)
async def test_json_body_names_match_case_insensitively(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/sessions/outgoing", json=body)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    info = response.json()
    assert info["flowId"] == "hello"
    assert info["destination"] == "+18144043093"
    assert info["fromAddress"] == "+12025550143"
    assert info["callState"] == "Queued"
    assert info["ended"] is False
    assert info["outcome"] is None
    assert info["dateCreated"] == "2024-05-01T12:00:00Z"
    assert info["log"] == [{"date": "2024-05-01T12:00:00Z", "message": "queued"}]


async def test_the_sample_xml_request_works_byte_for_byte(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    body = SAMPLE_XML.format(caller="+12025550143", flow="hello", number="+18144043093")

    response = await client.post(
        "/sessions/outgoing",
        content=body.encode(),
        headers={"Content-Type": "application/xml", "Accept": "application/xml"},
    )

    assert response.status_code == 200, response.text
    assert response.text.startswith(
        '<?xml version="1.0" encoding="utf-8"?><SessionInfo '
        f'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="{SESSIONS_NS}">'
        "<CallState>Queued</CallState>"
    )
    assert [s.destination for s in backend.sessions.values()] == ["+18144043093"]


async def test_predefined_xml_route_reads_and_writes_xml_without_headers(
    client: httpx.AsyncClient,
) -> None:
    body = SAMPLE_XML.format(caller="+12025550144", flow="survey", number="+1 202 555 0143")

    response = await client.post("/xml/reply/NewOutgoingSession", content=body.encode())

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    assert "<Destination>+12025550143</Destination>" in response.text
    assert "<FromAddress>+12025550144</FromAddress>" in response.text


async def test_predefined_json_route(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/json/reply/NewOutgoingSession",
        json={"FlowId": "hello", "NumberToDial": "+18144043093"},
        headers={"Accept": "application/xml"},
    )

    assert response.status_code == 200
    assert response.json()["fromAddress"] in ("+12025550143", "+12025550144")


async def test_form_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions/outgoing",
        data={"FlowId": "hello", "NumberToDial": "+18144043093", "CallerId": "+12025550144"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["fromAddress"] == "+12025550144"


async def test_query_string_values_and_body_overrides_them(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions/outgoing?flowId=hello&numberToDial=%2B12025550143&callerId=%2B12025550143",
        json={"callerId": "+12025550144"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["destination"] == "+12025550143"
    assert response.json()["fromAddress"] == "+12025550144"


async def test_validation_failure_names_each_field_and_creates_nothing(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    response = await client.post(
        "/sessions/outgoing",
        json={"flowId": "nope", "numberToDial": "+15551234567", "callerId": "+18144043093"},
    )

    assert response.status_code == 400
    status = response.json()["responseStatus"]
    assert status["errorCode"] == "NotFound"
    assert [(e["fieldName"], e["errorCode"]) for e in status["errors"]] == [
        ("FlowId", "NotFound"),
        ("NumberToDial", "InvalidPhoneNumber"),
        ("CallerId", "NotOwned"),
    ]
    assert backend.sessions == {}


async def test_missing_fields_are_required(client: httpx.AsyncClient) -> None:
    response = await client.post("/sessions/outgoing", json={})

    assert response.status_code == 400
    errors = response.json()["responseStatus"]["errors"]
    assert {e["fieldName"]: e["errorCode"] for e in errors} == {
        "FlowId": "NotEmpty",
        "NumberToDial": "NotEmpty",
    }


async def test_validation_error_in_xml(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions/outgoing.xml", json={"flowId": "hello", "numberToDial": "12025550143"}
    )

    assert response.status_code == 400
    assert response.text.startswith(
        '<?xml version="1.0" encoding="utf-8"?><ErrorResponse '
        'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns="http://schemas.servicestack.net/types"><ResponseStatus>'
        "<ErrorCode>InvalidPhoneNumber</ErrorCode><Message>"
    )
    assert (
        "<Errors><ResponseError><ErrorCode>InvalidPhoneNumber</ErrorCode>"
        "<FieldName>NumberToDial</FieldName>" in response.text
    )


async def test_queue_full_is_503_with_retry_after(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    backend.queue_full_retry_after = 7

    response = await client.post(
        "/sessions/outgoing", json={"flowId": "hello", "numberToDial": "+18144043093"}
    )

    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["responseStatus"]["errorCode"] == "QueueFull"


async def test_an_overloaded_engine_is_503_overloaded_with_retry_after(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    async def overloaded(*_: object, **__: object) -> None:
        raise Overloaded(1, "the engine is overloaded: its event loop is 1.4 s behind")

    backend.create_outgoing_session = overloaded  # type: ignore[method-assign, assignment]

    response = await client.post(
        "/sessions/outgoing", json={"flowId": "hello", "numberToDial": "+18144043093"}
    )

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    status = response.json()["responseStatus"]
    assert (status["errorCode"], status["message"]) == (
        "Overloaded",
        "the engine is overloaded: its event loop is 1.4 s behind",
    )


async def test_a_repeated_idempotency_key_answers_the_first_session_and_creates_no_other(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    body = {"flowId": "hello", "numberToDial": "+18144043093"}
    key = {"Idempotency-Key": "2f1c0b7e-9d44-4c3e-8f0a-6a1d2b3c4d5e"}

    first = await client.post("/sessions/outgoing", json=body, headers=key)
    again = await client.post("/json/reply/NewOutgoingSession", json=body, headers=key)
    other = await client.post("/sessions/outgoing", json=body)

    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json() == first.json()  # the random caller ID too
    assert other.json()["id"] != first.json()["id"]
    assert len(backend.sessions) == 2


async def test_an_idempotency_key_reused_with_other_fields_is_422_naming_them(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    key = {"Idempotency-Key": "order-17"}
    first = await client.post(
        "/sessions/outgoing", json={"flowId": "hello", "numberToDial": "+18144043093"}, headers=key
    )

    response = await client.post(
        "/sessions/outgoing",
        json={"flowId": "survey", "numberToDial": "+18144043093", "callerId": "+12025550143"},
        headers=key,
    )

    assert response.status_code == 422
    status = response.json()["responseStatus"]
    assert status["errorCode"] == "IdempotencyKeyReused"
    assert first.json()["id"] in status["message"]
    assert [(e["fieldName"], e["errorCode"]) for e in status["errors"]] == [
        ("Idempotency-Key", "Reused"),
        ("CallerId", "Invalid"),
        ("FlowId", "Invalid"),
    ]
    assert len(backend.sessions) == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "must not be empty"),
        ("k" * 256, "at most 255 characters"),
        ("two words", "visible ASCII"),
    ],
)
async def test_a_malformed_idempotency_key_is_400_and_creates_nothing(
    client: httpx.AsyncClient, backend: FakeBackend, value: str, message: str
) -> None:
    response = await client.post(
        "/sessions/outgoing",
        json={"flowId": "hello", "numberToDial": "+18144043093"},
        headers={"Idempotency-Key": value},
    )

    assert response.status_code == 400
    [error] = response.json()["responseStatus"]["errors"]
    assert error["fieldName"] == "Idempotency-Key"
    assert message in error["message"]
    assert backend.sessions == {}


async def _create(client: httpx.AsyncClient, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = await client.post(
            "/sessions/outgoing", json={"flowId": "hello", "numberToDial": "+18144043093"}
        )
        ids.append(response.json()["id"])
    return ids


async def test_get_session_and_unknown_session(client: httpx.AsyncClient) -> None:
    [session_id] = await _create(client, 1)

    found = await client.get(f"/sessions/{session_id}")
    missing = await client.get("/sessions/nope")

    assert found.status_code == 200
    assert found.json()["id"] == session_id
    assert missing.status_code == 404
    assert missing.json()["responseStatus"]["errorCode"] == "NotFound"


async def test_list_is_paged_newest_first(client: httpx.AsyncClient) -> None:
    ids = await _create(client, 5)

    response = await client.get("/sessions", params={"skip": 1, "take": 2})

    assert response.status_code == 200
    page = response.json()
    assert page["offset"] == 1
    assert page["total"] == 5
    assert [s["id"] for s in page["results"]] == [ids[3], ids[2]]


@pytest.mark.parametrize(("query", "field"), [("skip=-1", "Skip"), ("take=zero", "Take")])
async def test_bad_paging_is_400_naming_the_parameter(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/sessions?{query}")

    assert response.status_code == 400
    assert response.json()["responseStatus"]["errors"][0]["fieldName"] == field


async def test_delete_ends_the_session(client: httpx.AsyncClient) -> None:
    [session_id] = await _create(client, 1)

    response = await client.delete(f"/sessions/{session_id}")
    missing = await client.delete("/sessions/nope")

    assert response.status_code == 200
    assert response.json()["callState"] == "Disconnected"
    assert response.json()["outcome"] == "canceled"
    assert response.json()["ended"] is True
    assert missing.status_code == 404


async def test_phone_numbers(client: httpx.AsyncClient) -> None:
    response = await client.get("/phone-numbers")

    assert response.status_code == 200
    assert response.json()["results"][0] == {
        "number": "+12025550143",
        "trunk": "local-sipp",
        "description": "demo line 1",
    }


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/nowhere", headers={"Accept": "application/xml"})
    wrong = await client.put("/sessions/s1")

    assert unknown.status_code == 404
    assert "<ErrorCode>NotFound</ErrorCode>" in unknown.text
    assert wrong.status_code == 405
    assert wrong.json()["responseStatus"]["errorCode"] == "MethodNotAllowed"
    assert "allow" in wrong.headers
