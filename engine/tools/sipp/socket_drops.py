"""Datagrams the kernel dropped on a process's UDP sockets because their receive buffers were full.

A far end that cannot read its RTP socket fast enough (SIPp echoing every call's audio from one
socket, on a machine the load keeps busy) drops packets there; the caller then counts them as
lost. These counts tell that loss apart from loss at the engine's own sockets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

PROC = Path("/proc")
_UDP_TABLES = ("net/udp", "net/udp6")
_LOCAL_ADDRESS, _INODE, _DROPS = 1, 9, 12


def socket_inodes(pid: int, proc: Path = PROC) -> set[str]:
    """The inodes of the sockets `pid` holds open (empty if it is gone or not ours to read)."""
    inodes = set()
    fd_dir = proc / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return set()
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def parse_udp_table(lines: Iterable[str]) -> dict[str, tuple[int, int]]:
    """inode -> (local port, datagrams dropped) from the lines of /proc/net/udp or udp6."""
    sockets: dict[str, tuple[int, int]] = {}
    for line in lines:
        fields = line.split()
        if len(fields) <= _DROPS or not fields[0].endswith(":"):
            continue  # the header, or a line of another format
        port = int(fields[_LOCAL_ADDRESS].rsplit(":", 1)[1], 16)
        sockets[fields[_INODE]] = (port, int(fields[_DROPS]))
    return sockets


def udp_drops(pid: int, proc: Path = PROC) -> dict[int, int]:
    """Local port -> datagrams dropped so far, for each UDP socket `pid` holds."""
    inodes = socket_inodes(pid, proc)
    drops: dict[int, int] = {}
    for table in _UDP_TABLES:
        try:
            lines = (proc / str(pid) / table).read_text().splitlines()
        except OSError:
            continue
        for inode, (port, dropped) in parse_udp_table(lines).items():
            if inode in inodes:
                drops[port] = drops.get(port, 0) + dropped
    return drops


def drops_since(before: Mapping[int, int], after: Mapping[int, int]) -> dict[str, object]:
    """What was dropped between two `udp_drops` readings: the total and the ports that
    dropped any (a socket opened in between counts from zero)."""
    by_port = {
        port: after[port] - before.get(port, 0)
        for port in sorted(after)
        if after[port] - before.get(port, 0) > 0
    }
    return {"datagrams": sum(by_port.values()), "by_port": {str(p): n for p, n in by_port.items()}}


class DropWatch:
    """Datagrams dropped on the UDP sockets of `pids` since the watch was made."""

    def __init__(self, pids: Iterable[int], proc: Path = PROC) -> None:
        self._proc = proc
        self._before = {pid: udp_drops(pid, proc) for pid in pids}

    def since(self) -> dict[str, object]:
        before: dict[int, int] = {}
        after: dict[int, int] = {}
        for pid, earlier in self._before.items():
            before.update(earlier)
            after.update(udp_drops(pid, self._proc))
        return drops_since(before, after)
