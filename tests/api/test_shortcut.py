"""NewOutgoingSession answered by NewSessionShortcut, not by FastAPI's route."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from engine.api.keys import KeyStore
from engine.api.routes import new_session_routes, sessions_router
from engine.api.shortcut import NewSessionShortcut
from tests.api.fakes import FakeBackend

BODY = {"FlowId": "hello", "NumberToDial": "+12025550100"}


def _counted(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "voice_engine_api_requests_total", {"route": route, "status": status}
    )
    return value or 0.0


class Passed:
    """The app behind the shortcut: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def behind() -> Passed:
    return Passed()


@pytest.fixture
async def shortcut_client(
    behind: Passed, backend: FakeBackend, keys: KeyStore, manager_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    routes = new_session_routes(sessions_router(backend, keys))
    app = NewSessionShortcut(behind, keys=keys, routes=routes)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {manager_key}"},
    ) as client:
        yield client


async def test_posts_to_the_operation_never_reach_the_app_behind(
    shortcut_client: httpx.AsyncClient, behind: Passed, backend: FakeBackend
) -> None:
    response = await shortcut_client.post("/sessions/outgoing", json=BODY)

    assert response.status_code == 200
    assert response.json()["flowId"] == "hello"
    assert behind.paths == []
    assert len(backend.sessions) == 1


async def test_other_methods_and_paths_go_to_the_app_behind(
    shortcut_client: httpx.AsyncClient, behind: Passed
) -> None:
    await shortcut_client.get("/sessions/outgoing")
    await shortcut_client.post("/sessions", json=BODY)

    assert behind.paths == [("GET", "/sessions/outgoing"), ("POST", "/sessions")]


async def test_a_request_without_a_key_is_refused_before_anything_is_placed(
    shortcut_client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    response = await shortcut_client.post(
        "/sessions/outgoing", json=BODY, headers={"Authorization": ""}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["responseStatus"]["errorCode"] == "Unauthorized"
    assert backend.sessions == {}


async def test_the_app_counts_placed_calls_by_route_template(client: httpx.AsyncClient) -> None:
    ok = _counted("/sessions/outgoing", "200")
    refused = _counted("/json/reply/NewOutgoingSession", "400")

    await client.post("/sessions/outgoing.json", json=BODY)
    await client.post("/json/reply/NewOutgoingSession", json={**BODY, "NumberToDial": "x"})

    assert _counted("/sessions/outgoing", "200") == ok + 1
    assert _counted("/json/reply/NewOutgoingSession", "400") == refused + 1


async def test_an_unexpected_error_placing_a_call_is_a_generic_500(
    client: httpx.AsyncClient, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(
        flow_id: str, number_to_dial: str, caller_id: str | None, idempotency_key: str | None
    ) -> None:
        raise RuntimeError("secret detail")

    backend.create_outgoing_session = explode  # type: ignore[method-assign, assignment]

    with caplog.at_level(logging.ERROR):
        response = await client.post("/xml/reply/NewOutgoingSession", json=BODY)

    assert response.status_code == 500
    assert "<ErrorCode>InternalServerError</ErrorCode>" in response.text
    assert "secret detail" not in response.text
    assert "secret detail" in caplog.text
    assert _counted("/xml/reply/NewOutgoingSession", "500") >= 1


def test_the_operation_has_three_post_routes(backend: FakeBackend, keys: KeyStore) -> None:
    routes = new_session_routes(sessions_router(backend, keys))

    assert sorted(routes) == [
        "/json/reply/NewOutgoingSession",
        "/sessions/outgoing",
        "/xml/reply/NewOutgoingSession",
    ]


async def test_the_app_places_calls_in_front_of_fastapi(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_here(self: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError(f"FastAPI answered {scope['method']} {scope['path']}")

    monkeypatch.setattr(FastAPI, "__call__", not_here)

    for path, media_type in (
        ("/sessions/outgoing", "application/json"),
        ("/json/reply/NewOutgoingSession", "application/json"),
        ("/sessions/outgoing.xml", "application/xml"),
        ("/xml/reply/NewOutgoingSession", "application/xml"),
    ):
        response = await client.post(path, json=BODY)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(media_type), path
