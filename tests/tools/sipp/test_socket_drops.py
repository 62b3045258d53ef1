"""Drops on a process's UDP sockets, read from /proc; a real loopback socket nobody reads."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from engine.tools.sipp.socket_drops import DropWatch, drops_since, parse_udp_table, udp_drops

HEADER = "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode"
TABLE = [
    HEADER + " ref pointer drops",
    "1017: 0100007F:13BE 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 412345"
    " 2 0000000000000000 0",
    "1290: 0100007F:E59A 00000000:0000 07 00000000:00034000 00:00000000 00000000 0 0 412399"
    " 2 0000000000000000 129763",
]


def test_the_table_gives_each_inode_its_port_and_drops() -> None:
    assert parse_udp_table(TABLE) == {"412345": (5054, 0), "412399": (58778, 129763)}


def test_only_ports_that_dropped_since_count() -> None:
    before = {5054: 3, 58778: 100}
    after = {5054: 3, 58778: 160, 40000: 7}  # 40000 opened in between

    assert drops_since(before, after) == {"datagrams": 67, "by_port": {"40000": 7, "58778": 60}}


@pytest.fixture
def unread_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel's minimum or so
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_datagrams_a_full_buffer_drops_are_counted_at_its_port(
    unread_socket: socket.socket,
) -> None:
    port = unread_socket.getsockname()[1]
    watch = DropWatch([os.getpid()])
    assert udp_drops(os.getpid()).get(port) == 0

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(200):
            sender.sendto(b"x" * 512, ("127.0.0.1", port))

    dropped = udp_drops(os.getpid())[port]
    assert dropped > 0
    assert watch.since() == {"datagrams": dropped, "by_port": {str(port): dropped}}


def test_a_process_that_is_gone_has_no_sockets() -> None:
    assert udp_drops(2**22 + 12345) == {}
