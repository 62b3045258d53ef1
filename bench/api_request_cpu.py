"""CPU per `POST /sessions/outgoing` inside the HTTP API's ASGI app: the framework's share of
placing a call, without a network, a server or the engine (the tests' fake backend validates
the request and makes a session in memory).

    python bench/api_request_cpu.py --requests 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.api.app import create_app
from engine.api.keys import KeyStore
from tests.api.fakes import FakeBackend

BODY = json.dumps({"flowId": "hello", "numberToDial": "+12025550100"}).encode()


async def measure(requests: int, rounds: int) -> list[float]:
    keys = KeyStore(":memory:")
    key = keys.create(["Manager"], "bench")
    backend = FakeBackend()
    app = create_app(backend, keys)
    headers = [
        (b"host", b"api.test"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(BODY)).encode()),
    ]

    async def post() -> int:
        scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/sessions/outgoing",
            "raw_path": b"/sessions/outgoing", "query_string": b"", "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 1), "server": ("api.test", 80),
        }  # fmt: skip
        messages = [{"type": "http.request", "body": BODY, "more_body": False}]
        status = 0

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    for _ in range(300):  # warm-up
        assert await post() == 200
    backend.sessions.clear()
    microseconds = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            await post()
        microseconds.append((time.process_time() - started) / requests * 1e6)
        backend.sessions.clear()
    keys.close()
    return microseconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds = asyncio.run(measure(args.requests, args.rounds))
    print(
        json.dumps(
            {
                "requests_per_round": args.requests,
                "cpu_us_per_request": [round(r, 1) for r in rounds],
                "min_us": round(min(rounds), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
