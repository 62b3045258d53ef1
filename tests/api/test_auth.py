"""API keys on requests: Bearer or Basic, and the roles a route needs."""

from __future__ import annotations

import base64

import httpx
import pytest

from engine.api.app import create_app
from engine.api.keys import KeyStore
from tests.api.fakes import FakeBackend


@pytest.fixture
def anonymous(backend: FakeBackend, keys: KeyStore) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(backend, keys))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


def _basic(user: str, password: str = "ignored") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer ve_wrong", "Token abc", "Basic !!!", _basic(""), "Basic " + "e30="],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/sessions"), ("POST", "/sessions/outgoing")])
async def test_missing_or_bad_key_is_401_with_a_challenge(
    anonymous: httpx.AsyncClient, authorization: str | None, method: str, path: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await anonymous.request(method, path, headers=headers)

    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]
    assert "Basic" in response.headers["www-authenticate"]
    assert response.json()["responseStatus"]["errorCode"] == "Unauthorized"


async def test_basic_auth_with_the_key_as_user_name(
    anonymous: httpx.AsyncClient, manager_key: str
) -> None:
    response = await anonymous.get("/sessions", headers={"Authorization": _basic(manager_key)})

    assert response.status_code == 200


async def test_system_administrator_may_call(anonymous: httpx.AsyncClient, keys: KeyStore) -> None:
    key = keys.create(["SystemAdministrator"], "admin")

    response = await anonymous.get("/phone-numbers", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200


async def test_a_key_without_the_roles_is_403(
    anonymous: httpx.AsyncClient, keys: KeyStore, backend: FakeBackend
) -> None:
    key = keys.create(["Viewer"], "viewer")

    response = await anonymous.post(
        "/sessions/outgoing.xml",
        json={"flowId": "hello", "numberToDial": "+18144043093"},
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 403
    assert "<ErrorCode>Forbidden</ErrorCode>" in response.text
    assert backend.sessions == {}


async def test_a_revoked_key_is_refused(
    anonymous: httpx.AsyncClient, keys: KeyStore, manager_key: str
) -> None:
    keys.revoke("manager")

    response = await anonymous.get("/sessions", headers={"Authorization": f"Bearer {manager_key}"})

    assert response.status_code == 401


async def test_operations_routes_need_no_key(anonymous: httpx.AsyncClient) -> None:
    for path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs"):
        response = await anonymous.get(path)
        assert response.status_code == 200, path
