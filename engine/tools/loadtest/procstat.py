"""CPU and memory of a set of processes from /proc (Linux), sampled once a second."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_ticks(pid: int) -> tuple[int, int] | None:
    """User and system CPU of one process in clock ticks (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    # After the command: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return int(fields[11]), int(fields[12])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (None once it is gone)."""
    ticks = cpu_ticks(pid)
    return None if ticks is None else (ticks[0] + ticks[1]) / _TICKS


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def machine_cpu_seconds() -> tuple[float, float]:
    """Busy and stolen CPU seconds of the whole machine (all cores, from /proc/stat).

    Busy is user, nice, system, irq and softirq; stolen is time a VM's hypervisor gave to
    someone else while this machine had work (it explains slow runs on a shared host).
    """
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(v) for v in stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq) / _TICKS, steal / _TICKS


@dataclass
class Sample:
    at: float
    """time.monotonic()"""
    groups: dict[str, tuple[float, int]]
    """Per group: cores used since the previous sample, RSS bytes now."""
    machine_cores: float
    machine_steal_cores: float = 0.0


class ProcessSampler:
    """Samples named groups of pids (e.g. engine, workers, sipp) each `interval` seconds.

    A process that exits between samples drops out of its group; its last interval is lost,
    which is small against a one-second sample.
    """

    def __init__(
        self, groups: dict[str, Callable[[], Iterable[int]]], interval: float = 1.0
    ) -> None:
        self.groups = groups
        self.interval = interval
        self.samples: list[Sample] = []
        self._last: dict[int, float] = {}
        self._last_machine = machine_cpu_seconds()
        self._last_at = time.monotonic()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    def sample(self) -> Sample:
        now = time.monotonic()
        elapsed = max(1e-6, now - self._last_at)
        groups: dict[str, tuple[float, int]] = {}
        seen: dict[int, float] = {}
        for name, pids in self.groups.items():
            cores = 0.0
            rss = 0
            for pid in pids():
                cpu = cpu_seconds(pid)
                memory = rss_bytes(pid)
                if cpu is None or memory is None:
                    continue
                seen[pid] = cpu
                cores += (cpu - self._last.get(pid, cpu)) / elapsed
                rss += memory
            groups[name] = (cores, rss)
        machine = machine_cpu_seconds()
        sample = Sample(
            now,
            groups,
            (machine[0] - self._last_machine[0]) / elapsed,
            (machine[1] - self._last_machine[1]) / elapsed,
        )
        self._last, self._last_machine, self._last_at = seen, machine, now
        self.samples.append(sample)
        return sample
