"""Response format negotiation (route, suffix, ?format, Accept) and the XML shape."""

from __future__ import annotations

import httpx
import pytest
from defusedxml import ElementTree

from engine.api.formats import Format, from_accept

NS = "{http://schemas.datacontract.org/2004/07/Voice.Api.Sessions}"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", None),
        ("*/*", None),
        ("text/html", None),
        ("application/xml", Format.XML),
        ("text/xml", Format.XML),
        ("application/json, application/xml", Format.JSON),
        ("application/json;q=0.5, application/xml", Format.XML),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", Format.XML),
        ("application/xml;q=0, application/json", Format.JSON),
        ("application/xml;q=bad", None),
    ],
)
def test_accept_header(accept: str, expected: Format | None) -> None:
    assert from_accept(accept) is expected


@pytest.fixture
async def session_id(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/sessions/outgoing", json={"flowId": "hello", "numberToDial": "+18144043093"}
    )
    return str(response.json()["id"])


def _format_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.headers["content-type"].split(";")[0]


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/sessions/{id}", {}, "application/json"),
        ("/sessions/{id}", {"Accept": "application/xml"}, "application/xml"),
        ("/sessions/{id}.xml", {}, "application/xml"),
        ("/sessions/{id}.json", {"Accept": "application/xml"}, "application/json"),
        ("/sessions/{id}?format=xml", {}, "application/xml"),
        ("/sessions/{id}?format=json", {"Accept": "text/xml"}, "application/json"),
        ("/sessions/{id}.xml?format=json", {}, "application/xml"),
        ("/sessions?format=xml", {}, "application/xml"),
        ("/sessions.xml", {}, "application/xml"),
        ("/phone-numbers.xml", {}, "application/xml"),
    ],
)
async def test_format_selection(
    client: httpx.AsyncClient, session_id: str, path: str, headers: dict[str, str], expected: str
) -> None:
    response = await client.get(path.format(id=session_id), headers=headers)

    assert _format_of(response) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "application/xml"),
        ({"Accept": "*/*"}, "application/xml"),
        ({"Accept": "application/json"}, "application/json"),
    ],
)
async def test_xml_request_gets_xml_unless_it_asks_otherwise(
    client: httpx.AsyncClient, headers: dict[str, str], expected: str
) -> None:
    body = (
        b"<NewOutgoingSession><FlowId>hello</FlowId>"
        b"<NumberToDial>+18144043093</NumberToDial></NewOutgoingSession>"
    )

    response = await client.post(
        "/sessions/outgoing", content=body, headers={"Content-Type": "text/xml", **headers}
    )

    assert _format_of(response) == expected


async def test_post_with_suffix_answers_xml(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions/outgoing.xml", json={"flowId": "hello", "numberToDial": "+18144043093"}
    )

    assert _format_of(response) == "application/xml"


async def test_xml_session_info_shape(client: httpx.AsyncClient, session_id: str) -> None:
    await client.delete(f"/sessions/{session_id}")

    response = await client.get(f"/sessions/{session_id}.xml")

    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{NS}SessionInfo"
    names = [child.tag.removeprefix(NS) for child in root]
    assert names == sorted(names)
    assert names == [
        "CallState",
        "DateAnswered",
        "DateCompleted",
        "DateCreated",
        "Destination",
        "Ended",
        "FlowId",
        "FromAddress",
        "Id",
        "Log",
        "Outcome",
        "SipCode",
        "SipReason",
    ]
    assert 'xmlns:i="http://www.w3.org/2001/XMLSchema-instance"' in response.text
    assert '<DateAnswered i:nil="true"/>' in response.text
    assert "<DateCompleted>2024-05-01T12:00:05Z</DateCompleted>" in response.text
    assert "<Ended>true</Ended>" in response.text
    assert "<Outcome>canceled</Outcome>" in response.text
    assert (
        "<Log><LogEntry><Date>2024-05-01T12:00:00Z</Date><Message>queued</Message></LogEntry></Log>"
        in response.text
    )


async def test_xml_query_response_shape(client: httpx.AsyncClient, session_id: str) -> None:
    response = await client.get("/sessions", headers={"Accept": "application/xml"})

    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{NS}QuerySessionsResponse"
    assert [child.tag.removeprefix(NS) for child in root] == ["Offset", "Results", "Total"]
    results = root.find(f"{NS}Results")
    assert results is not None
    assert [child.tag for child in results] == [f"{NS}SessionInfo"]


async def test_xml_text_is_escaped(client: httpx.AsyncClient) -> None:
    response = await client.get("/sessions/<&>.xml")

    assert response.status_code == 404
    ElementTree.fromstring(response.content)
    assert "&lt;&amp;&gt;" in response.text


async def test_json_text_is_utf8_not_escaped(client: httpx.AsyncClient) -> None:
    response = await client.get("/sessions/caf\u00e9")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "caf\u00e9".encode() in response.content
    assert "caf\u00e9" in response.json()["responseStatus"]["message"]
