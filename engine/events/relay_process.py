"""`python -m engine.events.relay_process`: the process that publishes events (see relay.py).

Started by the controller's `Relay`, never by hand: settings come as the first line on stdin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from engine.config import MqttConfig
from engine.events.outbox import Outbox
from engine.events.publisher import Publisher


def _report(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    settings = json.loads(await commands.readline())
    outbox = Outbox(settings["outbox"], read_only=True)
    publisher = Publisher(
        MqttConfig.model_validate(settings["mqtt"]),
        settings["node_id"],
        outbox,
        on_delivered=lambda count, through: _report(f"delivered {count} {through}"),
        on_state=lambda state: _report(f"state {state}"),
        delivered_through=settings["delivered_through"],
    )
    running = asyncio.create_task(publisher.run())
    while line := await commands.readline():
        if line.strip() == b"stop":
            break
        publisher.notify()
    publisher.request_stop()
    await running
    outbox.close()


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
