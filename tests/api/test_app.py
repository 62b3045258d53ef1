"""Operations routes, the OpenAPI document, and the last-resort 500."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client import REGISTRY

from tests.api.fakes import FakeBackend


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_ready_when_every_check_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"workers": True, "store": True}}


async def test_not_ready_lists_the_checks(client: httpx.AsyncClient, backend: FakeBackend) -> None:
    backend.checks["workers"] = False

    response = await client.get("/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"workers": False, "store": True}


async def test_metrics_in_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE voice_engine_api_requests_total counter" in response.text


async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient) -> None:
    before = REGISTRY.get_sample_value(
        "voice_engine_api_requests_total", {"route": "/sessions/{session_id}", "status": "404"}
    )

    await client.get("/sessions/nope.xml")

    after = REGISTRY.get_sample_value(
        "voice_engine_api_requests_total", {"route": "/sessions/{session_id}", "status": "404"}
    )
    assert (after or 0) == (before or 0) + 1


async def test_openapi_documents_the_operations(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {"NewOutgoingSession", "GetSession", "QuerySessions", "EndSession"} <= operations
    assert "SessionInfo" in document["components"]["schemas"]
    assert {"bearer", "basic"} <= set(document["components"]["securitySchemes"])


async def test_unexpected_error_is_a_generic_500_and_logged(
    client: httpx.AsyncClient, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(session_id: str) -> None:
        raise RuntimeError("secret detail")

    backend.get_session = explode  # type: ignore[method-assign, assignment]

    with caplog.at_level(logging.ERROR):
        response = await client.get("/sessions/s1.xml")

    assert response.status_code == 500
    assert "<ErrorCode>InternalServerError</ErrorCode>" in response.text
    assert "secret detail" not in response.text
    assert "secret detail" in caplog.text
