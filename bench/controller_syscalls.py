"""The controller alone: its CPU split into user and kernel time, and its system calls a call.

Runs one round of `controller_cpu.py` (the engine in a child process, its workers
`fake_worker.py`, the load over HTTP from another process) and reads the child's user and
system ticks from /proc each second. The window starts once the child has used more than
`--busy` cores for three seconds in a row (the calls have begun; before them it starts its
workers) and lasts `--window` seconds. With `--strace`, `strace -c -f` is attached to the child
(its threads, and any it starts) for the window, and each system call's count is divided
by the calls the schedule places in it (rate x window); strace slows every call it counts, so
the split of a traced round is not the controller's. Needs strace (Debian `strace`) for that.

    python bench/controller_syscalls.py [--rate 50] [--seconds 40] [--window 15] [--strace]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_bench import RESULTS, WORK  # noqa: E402
from engine.tools.loadtest.procstat import cpu_ticks  # noqa: E402
from engine.tools.loadtest.runner import describe_machine  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def parse_strace_summary(text: str) -> dict[str, dict[str, int]]:
    """`strace -c`'s table: calls and errors by system call (the total line left out)."""
    table: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[0].replace(".", "", 1).isdigit() or parts[-1] == "total":
            continue
        calls = int(parts[3])
        errors = int(parts[4]) if len(parts) == 6 else 0
        table[parts[-1]] = {"calls": calls, "errors": errors}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--busy", type=float, default=0.1, help="cores that mean the calls began")
    parser.add_argument("--strace", action="store_true")
    args = parser.parse_args()
    if args.seconds < args.window + 10:
        parser.error("--seconds must leave 10 s beside the window (the calls' start and end)")
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "controller_cpu.py"), "--rate", str(args.rate),
         "--seconds", str(args.seconds), "--rounds", "1", "--no-save"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    per_second: list[dict[str, float]] = []
    busy_run = 0
    window: dict[str, Any] | None = None
    tracer: subprocess.Popen[str] | None = None
    summary_path = WORK / "controller-syscalls.strace"
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    previous = cpu_ticks(child.pid)
    started = time.monotonic()
    while child.poll() is None and previous is not None:
        time.sleep(1.0)
        now = cpu_ticks(child.pid)
        if now is None:
            break
        user, system = now[0] - previous[0], now[1] - previous[1]
        previous = now
        at = round(time.monotonic() - started, 1)
        per_second.append({"t": at, "user_ticks": user, "system_ticks": system})
        if window is None:
            busy_run = busy_run + 1 if (user + system) / TICKS > args.busy else 0
            if busy_run == 3:
                window = {"from_t": at, "start": now}
                if args.strace:
                    tracer = subprocess.Popen(
                        ["strace", "-c", "-f", "-o", str(summary_path), "-p", str(child.pid)],
                        stderr=subprocess.DEVNULL,
                    )
        elif "to_t" not in window and at - window["from_t"] >= args.window:
            window.update(to_t=at, end=now)
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=30)
    output, _ = child.communicate(timeout=300)
    if window is None or "to_t" not in window:
        raise SystemExit("the calls never kept the child busy for a whole window")
    row = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    user = window["end"][0] - window["start"][0]
    system = window["end"][1] - window["start"][1]
    seconds = window["to_t"] - window["from_t"]
    calls = args.rate * seconds
    document: dict[str, Any] = {
        "kind": "controller-syscalls",
        "command": " ".join(["python", "bench/controller_syscalls.py", *sys.argv[1:]]),
        "machine": describe_machine(),
        "round": row,
        "window": {"from_t": window["from_t"], "to_t": window["to_t"], "calls": calls},
        "traced": args.strace,
        "cores": round((user + system) / TICKS / seconds, 3),
        "user_share": round(user / max(1, user + system), 3),
        "system_ms_a_call": round(system / TICKS * 1000 / calls, 3),
        "user_ms_a_call": round(user / TICKS * 1000 / calls, 3),
        "per_second": per_second,
    }
    if args.strace:
        table = parse_strace_summary(summary_path.read_text())
        document["syscalls_a_call"] = {
            name: round(entry["calls"] / calls, 2)
            for name, entry in sorted(table.items(), key=lambda item: -item[1]["calls"])
        }
        total = sum(entry["calls"] for entry in table.values())
        document["syscalls_a_call_total"] = round(total / calls, 1)
        document["strace_errors"] = {n: e["errors"] for n, e in table.items() if e["errors"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"controller-syscalls-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(document, indent=1))
    print(json.dumps({k: v for k, v in document.items() if k not in ("per_second", "machine")}))
    print(path)


if __name__ == "__main__":
    main()
