"""Where a whole machine's CPU went, from a system-wide `perf record`: by thread name (comm),
then one or more processes by library and by function.

    perf record -a -g -F 499 -o perf.data -- sleep 15     # while a benchmark runs
    python bench/perf_summary.py perf.data --hz 499 --seconds 15 [--pid PID ...] [--top 30]

Percentages are of the samples taken. An idle core is sampled less often than a busy one (the
`swapper` lines), so they are not shares of the machine; with `--hz` and `--seconds` each line
also reads as cores (samples / (hz x seconds)). perf sees native code only: Python's own
frames show as libpython (`_PyEval_EvalFrameDefault`, ...).
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
from pathlib import Path

SAMPLE = re.compile(r"^\s*(\S+)\s+(\d+)/(\d+)\s+\S+\s+(.*?) \((.*)\)$")


class Tally:
    """Samples by thread name, by process and thread name, and, for `pids`, by library and by
    function."""

    def __init__(self, pids: list[str]) -> None:
        self.pids = set(pids)
        self.total = 0
        self.by_comm: collections.Counter[str] = collections.Counter()
        self.by_process: collections.Counter[str] = collections.Counter()
        self.by_library: collections.Counter[str] = collections.Counter()
        self.by_function: collections.Counter[str] = collections.Counter()

    def add(self, line: str) -> None:
        """One line of `perf script -F pid,tid,comm,ip,sym,dso -G` (other lines are skipped)."""
        sample = SAMPLE.match(line)
        if sample is None:
            return
        comm, pid, _tid, function, library = sample.groups()
        self.total += 1
        self.by_comm[comm] += 1
        self.by_process[f"{pid} ({comm})"] += 1
        if pid in self.pids:
            library = library.rsplit("/", 1)[-1]
            self.by_library[library] += 1
            self.by_function[f"{library}: {function}"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--pid", action="append", default=[], help="break this process down")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--hz", type=float, help="perf record's -F")
    parser.add_argument("--seconds", type=float, help="how long perf recorded")
    args = parser.parse_args()
    per_core = args.hz * args.seconds if args.hz and args.seconds else None

    def share(count: int, of: int) -> str:
        cores = f"  {count / per_core:6.3f} cores" if per_core else ""
        return f"{100 * count / of:6.2f}%{cores}"

    script = subprocess.run(
        ["perf", "script", "-i", str(args.data), "-F", "pid,tid,comm,ip,sym,dso", "-G"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tally = Tally(args.pid)
    for line in script.splitlines():
        tally.add(line)
    total = tally.total
    if not total:
        raise SystemExit("no samples")
    print(f"{total} samples")
    print("\nby thread name")
    for comm, count in tally.by_comm.most_common(args.top):
        print(f"  {share(count, total)}  {comm}")
    print("\nby process and thread name")
    for process, count in tally.by_process.most_common(args.top):
        print(f"  {share(count, total)}  {process}")
    selected = sum(tally.by_library.values())
    if selected:
        print(f"\nprocesses {', '.join(args.pid)}: {share(selected, total)} of all samples")
        for library, count in tally.by_library.most_common(args.top):
            print(f"  {100 * count / selected:6.2f}% of theirs  {library}")
        for function, count in tally.by_function.most_common(args.top):
            print(f"  {100 * count / selected:6.2f}% of theirs  {function}")


if __name__ == "__main__":
    main()
