"""CPU per kind of process and thread over an interval, read from /proc: where a load run's
cores go (engine workers' main, media and clock threads, the controller, the load client,
bare pjsua2, SIPp).

    python bench/thread_cpu.py 30        # while a benchmark runs
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
Key = tuple[str, str]
"""(kind of process, thread name)."""


KINDS = (
    ("engine.worker", "engine worker"),
    ("bare_pjsua2", "bare pjsua2 parent"),
    ("load_bench", "controller"),  # the benchmark runs the engine in its own process
    ("voice-engine", "controller"),
)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def process_kind(pid: str) -> str:
    command = _read(Path("/proc", pid, "cmdline"))
    if "multiprocessing" in command:  # spawned children: the parent says whose they are
        stat = _read(Path("/proc", pid, "stat"))
        parent = stat.rsplit(")", 1)[-1].split()[1] if ")" in stat else ""
        parent_command = _read(Path("/proc", parent, "cmdline"))
        return "bare pjsua2" if "bare_pjsua2" in parent_command else "load client"
    if command.startswith("sipp"):
        return "sipp"
    for marker, kind in KINDS:
        if marker in command:
            return kind
    return "other"


def snapshot() -> dict[tuple[str, str], tuple[Key, int]]:
    """CPU ticks of every thread, by (pid, tid)."""
    ticks: dict[tuple[str, str], tuple[Key, int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        kind = process_kind(pid)
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            stat = _read(Path("/proc", pid, "task", tid, "stat"))
            if ")" not in stat:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            if tid == pid and kind in ("engine worker", "bare pjsua2"):
                name = "main (SIP, Python)"
            ticks[(pid, tid)] = ((kind, name), int(fields[11]) + int(fields[12]))
    return ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", type=float)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    before = snapshot()
    started = time.monotonic()
    time.sleep(args.seconds)
    after = snapshot()
    elapsed = time.monotonic() - started
    cores: dict[Key, float] = {}
    threads: Counter[Key] = Counter()
    for thread, (key, ticks) in after.items():
        earlier = before.get(thread)
        used = (ticks - (earlier[1] if earlier else 0)) / TICKS_PER_SECOND / elapsed
        cores[key] = cores.get(key, 0.0) + used
        threads[key] += 1
    print(f"{'process':20} {'thread':20} {'threads':>7} {'cores':>7}")
    for (kind, name), value in sorted(cores.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{kind:20} {name:20} {threads[(kind, name)]:7} {value:7.3f}")
    print(f"{'all':20} {'':20} {sum(threads.values()):7} {sum(cores.values()):7.3f}")


if __name__ == "__main__":
    main()
