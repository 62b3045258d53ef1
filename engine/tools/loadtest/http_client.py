"""The load generator's HTTP/1.1 client: keep-alive connections, httptools' response parser.

The load client shares the machine with the engine it measures, so what it spends per request
is taken from the engine's ceiling, and a general-purpose client spends several times its CPU a
request (docs/field-notes.md, HTTP). It sends each request as one write on an idle
connection and parses the answer with httptools (uvicorn's parser), with no per-request
session, header or cookie objects.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

from engine.errors import ToolError


class HttpClientError(ToolError):
    """The request got no complete answer (its name is recorded as the call's failure)."""


class ConnectFailed(HttpClientError):
    pass


class ServerDisconnected(HttpClientError):
    pass


class BadResponse(HttpClientError):
    pass


@dataclass
class HttpResponse:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.last_used = time.monotonic()
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._body: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(str(exc)))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ServerDisconnected("the server closed the connection"))

    # httptools callbacks

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = HttpResponse(self._parser.get_status_code(), b"".join(self._body))
        self._body = []
        if not self._parser.should_keep_alive():
            self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    # the client's side

    def send(self, request: bytes) -> asyncio.Future[HttpResponse]:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: HttpClientError) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class KeepAliveClient:
    """Requests to one server over at most `max_connections` keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        max_connections: int,
        timeout: float = 30.0,
        idle_seconds: float = 2.0,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base URL {base_url!r}: expected http://host[:port][/path]")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._prefix = url.path.rstrip("/")
        host_header = url.netloc.rsplit("@", 1)[-1]
        self._header_block = "".join(
            f"{name}: {value}\r\n" for name, value in {"Host": host_header, **headers}.items()
        )
        self._timeout = timeout
        self._idle_seconds = idle_seconds
        """Idle connections older than this are closed rather than reused: shorter than the
        server's keep-alive, so a request never meets a connection the server is closing."""
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._open: set[_Connection] = set()

    async def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> HttpResponse:
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._header_block}"
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        request = (head + "\r\n").encode() + (body or b"")
        async with self._slots:
            async with asyncio.timeout(self._timeout):
                connection = await self._connection()
                try:
                    response = await connection.send(request)
                except BaseException:
                    connection.close()  # an answer may still come: it must not meet the next
                    self._open.discard(connection)
                    raise
            connection.last_used = time.monotonic()
            if connection.closed:
                self._open.discard(connection)
            else:
                self._idle.append(connection)
            return response

    async def post_json(self, path: str, document: Any) -> HttpResponse:
        return await self.request("POST", path, json.dumps(document).encode(), "application/json")

    async def close(self) -> None:
        for connection in self._open:
            connection.close()
        self._open.clear()
        self._idle.clear()

    async def _connection(self) -> _Connection:
        stale_before = time.monotonic() - self._idle_seconds
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the least likely stale
            if not connection.closed and connection.last_used >= stale_before:
                return connection
            connection.close()
            self._open.discard(connection)
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._ssl
            )
        except OSError as exc:
            raise ConnectFailed(f"{self._host}:{self._port}: {exc}") from exc
        self._open.add(connection)
        return connection
