"""The worker's end of the IPC socket (no pjsua2): lines in, messages out, bad lines refused."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from engine.ipc.codec import decode_from_worker, encode
from engine.ipc.messages import CommandFailed, Hangup, StatsRequest, ToWorker
from engine.worker.channel import Channel

DEADLINE_SECONDS = 5.0


@pytest.fixture
def pair() -> Iterator[tuple[Channel, socket.socket]]:
    worker_end, controller_end = socket.socketpair()
    controller_end.settimeout(DEADLINE_SECONDS)
    yield Channel(worker_end), controller_end
    worker_end.close()
    controller_end.close()


def poll_until(channel: Channel, count: int) -> list[ToWorker]:
    """Poll until `count` messages arrived, within a deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    received: list[ToWorker] = []
    while len(received) < count and time.monotonic() < deadline:
        received += channel.poll(0.1)
    return received


def test_lines_become_messages_in_order_and_blank_lines_are_skipped(
    pair: tuple[Channel, socket.socket],
) -> None:
    channel, controller = pair
    controller.sendall(encode(Hangup(call_id="c1")) + b"\n" + encode(StatsRequest()))
    assert poll_until(channel, 2) == [Hangup(call_id="c1"), StatsRequest()]


def test_a_line_split_across_reads_is_joined(pair: tuple[Channel, socket.socket]) -> None:
    channel, controller = pair
    line = encode(Hangup(call_id="c1"))
    controller.sendall(line[:7])
    assert channel.poll(0.05) == []
    controller.sendall(line[7:])
    assert poll_until(channel, 1) == [Hangup(call_id="c1")]


def test_an_undecodable_line_is_answered_with_command_failed(
    pair: tuple[Channel, socket.socket],
) -> None:
    channel, controller = pair
    controller.sendall(b'{"type": "hangup"}\n' + encode(StatsRequest()))

    assert poll_until(channel, 1) == [StatsRequest()]

    failed = decode_from_worker(controller.makefile("rb").readline())
    assert isinstance(failed, CommandFailed)
    assert (failed.call_id, failed.command) == (None, "?")
    assert failed.reason == "undecodable message: hangup.call_id: Field required"


def test_the_controller_closing_its_end_closes_the_channel(
    pair: tuple[Channel, socket.socket],
) -> None:
    channel, controller = pair
    controller.close()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not channel.closed and time.monotonic() < deadline:
        channel.poll(0.1)
    assert channel.closed
    assert channel.poll(0) == []
