"""The load generator's keep-alive client against a small HTTP/1.1 server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import uvloop

from engine.tools.loadtest.http_client import (
    BadResponse,
    ConnectFailed,
    KeepAliveClient,
    ServerDisconnected,
)
from engine.tools.sipp.ports import free_tcp_port

Answer = Callable[[bytes], bytes | None]
"""Request head and body → the raw response to write (None: close without answering)."""


@dataclass
class Server:
    port: int
    answer: Answer
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    stalled: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                response = self.answer(request)
                if response is None:
                    break
                if response == b"stall":
                    self.stalled.set()
                    await asyncio.sleep(3600)
                writer.write(response)
                await writer.drain()
                if b"Connection: close" in response:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ok(body: bytes, *extra: str) -> bytes:
    headers = "".join(f"{line}\r\n" for line in extra)
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{headers}\r\n"
    ).encode() + body


Serve = Callable[[Answer], Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    listening: list[asyncio.Server] = []

    async def start(answer: Answer) -> Server:
        server = Server(free_tcp_port(), answer)
        listening.append(await asyncio.start_server(server.handle, "127.0.0.1", server.port))
        return server

    yield start
    for server in listening:
        server.close()
        await server.wait_closed()


def client_for(server: Server, **options: float) -> KeepAliveClient:
    return KeepAliveClient(
        f"http://127.0.0.1:{server.port}",
        {"Authorization": "Bearer k"},
        max_connections=int(options.pop("max_connections", 4)),
        **options,
    )


async def test_sequential_requests_share_one_connection(serve: Serve) -> None:
    server = await serve(lambda request: ok(b'{"id": "a"}'))
    client = client_for(server)
    for _ in range(3):
        response = await client.post_json("/sessions/outgoing", {"flowId": "f"})
        assert (response.status, response.json()) == (200, {"id": "a"})
    await client.close()
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /sessions/outgoing HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer k" in head
    assert b"\r\nHost: 127.0.0.1:" in head
    assert b"\r\nContent-Type: application/json" in head
    assert json.loads(body) == {"flowId": "f"}


async def test_concurrent_requests_open_up_to_the_limit(serve: Serve) -> None:
    server = await serve(lambda request: ok(b"{}"))
    client = client_for(server, max_connections=2)
    results = await asyncio.gather(*(client.request("GET", "/x") for _ in range(6)))
    await client.close()
    assert [r.status for r in results] == [200] * 6
    assert server.connections == 2


async def test_error_status_and_chunked_body(serve: Serve) -> None:
    chunked = (
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    server = await serve(lambda request: chunked)
    client = client_for(server)
    response = await client.request("GET", "/sessions?skip=0&take=1000")
    await client.close()
    assert (response.status, response.json()) == (503, {"a": 1})
    assert server.requests[0].startswith(b"GET /sessions?skip=0&take=1000 HTTP/1.1\r\n")


async def test_connection_close_from_the_server_opens_a_new_one(serve: Serve) -> None:
    server = await serve(lambda request: ok(b"{}", "Connection: close"))
    client = client_for(server)
    for _ in range(2):
        assert (await client.request("GET", "/")).status == 200
    await client.close()
    assert server.connections == 2


async def test_server_gone_mid_request_is_an_error_and_the_next_request_goes_on(
    serve: Serve,
) -> None:
    answers = iter([None, ok(b"{}")])
    server = await serve(lambda request: next(answers))
    client = client_for(server)
    with pytest.raises(ServerDisconnected):
        await client.request("GET", "/")
    assert (await client.request("GET", "/")).status == 200
    await client.close()


async def test_unparseable_answer(serve: Serve) -> None:
    server = await serve(lambda request: b"NOT HTTP AT ALL\r\n\r\n")
    client = client_for(server)
    with pytest.raises(BadResponse):
        await client.request("GET", "/")
    await client.close()


async def test_timeout_closes_the_connection(serve: Serve) -> None:
    server = await serve(lambda request: b"stall")
    client = client_for(server, timeout=0.3)
    with pytest.raises(TimeoutError):
        await client.request("GET", "/")
    assert server.stalled.is_set()
    await client.close()


async def test_nothing_listening() -> None:
    client = KeepAliveClient(
        f"http://127.0.0.1:{free_tcp_port()}", {}, max_connections=1, timeout=5.0
    )
    with pytest.raises(ConnectFailed):
        await client.request("GET", "/")


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="expected http"):
        KeepAliveClient("ftp://example", {}, max_connections=1)


def test_on_uvloop_as_the_load_client_runs() -> None:
    async def exchange() -> tuple[int, int]:
        server = Server(free_tcp_port(), lambda request: ok(b"{}"))
        listening = await asyncio.start_server(server.handle, "127.0.0.1", server.port)
        client = client_for(server, timeout=5.0)
        statuses = [(await client.request("GET", "/")).status for _ in range(2)]
        await client.close()
        listening.close()
        await listening.wait_closed()
        return statuses[-1], server.connections

    assert uvloop.run(exchange()) == (200, 1)
