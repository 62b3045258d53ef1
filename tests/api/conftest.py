from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from engine.api.app import create_app
from engine.api.keys import KeyStore
from tests.api.fakes import FakeBackend


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def keys() -> Iterator[KeyStore]:
    store = KeyStore(":memory:")
    yield store
    store.close()


@pytest.fixture
def manager_key(keys: KeyStore) -> str:
    return keys.create(["Manager"], "manager")


@pytest.fixture
async def client(
    backend: FakeBackend, keys: KeyStore, manager_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(backend, keys))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://api.test",
        headers={"Authorization": f"Bearer {manager_key}"},
    ) as http:
        yield http
