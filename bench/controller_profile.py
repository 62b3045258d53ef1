"""Whose code the controller's main thread runs: the engine's own, the standard library's,
third-party packages', or C, by cProfile's own time.

Runs one round of `controller_cpu.py` (the engine in this process, its workers
`fake_worker.py`, the load over HTTP from another process) with cProfile on from the first
request to the last call's end (the engine's start and the report's plot left out), on the
main thread's CPU clock (`time.thread_time`: waiting for the event loop costs nothing), and
sums each function's own time by where the function lives. C functions (sqlite3's methods,
pydantic-core's validators, uvloop's loop and transports) are grouped by their module; the
CPU of C code that uvloop runs without a Python caller lands in uvloop's `run_until_complete`.
cProfile's own cost a call falls mostly on Python functions, so the Python shares are upper
bounds. `engine/tools/loadtest` (the in-process recorder) and `bench/` are the harness's, not the
controller's, and are counted apart.

    python bench/controller_profile.py [--rate 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import sys
import sysconfig
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.controller_cpu import one_round  # noqa: E402
from bench.load_bench import RESULTS, WORK  # noqa: E402
from engine.tools.loadtest import runner  # noqa: E402

STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
C_FUNCTION_MODULE = re.compile(r"of '([A-Za-z0-9_]+)[.']|built-in method ([A-Za-z0-9_]+)[.]")


def origin(filename: str, function: str) -> str:
    """The group a profiled function's own time goes to."""
    if filename == "~":
        found = C_FUNCTION_MODULE.search(function)
        module = next((group for group in found.groups() if group), "?") if found else "?"
        return f"C: {module.lstrip('_')}"
    path = Path(filename).resolve()
    if path.is_relative_to(ROOT / "engine" / "tools" / "loadtest") or path.is_relative_to(
        ROOT / "bench"
    ):
        return "harness: engine/tools/loadtest, bench"
    if path.is_relative_to(ROOT / "engine"):
        return "engine (Python)"
    if "site-packages" in path.parts:
        package = path.parts[path.parts.index("site-packages") + 1]
        return f"third-party (Python): {package.split('.')[0]}"
    if path.is_relative_to(STDLIB):
        return "standard library (Python)"
    return "other (Python)"


def own_time_by_origin(stats: pstats.Stats) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _line, function), entry in stats.stats.items():  # type: ignore[attr-defined]
        totals[origin(filename, function)] += entry[2]
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    profile_path = WORK / "controller-profile.prof"
    profile_path.parent.mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile(time.thread_time)
    drive = runner.drive_from_another_process

    async def drive_profiled(*positional: Any, **keywords: Any) -> Any:
        profiler.enable()
        try:
            return await drive(*positional, **keywords)
        finally:
            profiler.disable()

    runner.drive_from_another_process = drive_profiled  # type: ignore[assignment]
    row = uvloop.run(one_round(args.rate, args.seconds, WORK / "controller-profile"))
    profiler.dump_stats(profile_path)
    totals = own_time_by_origin(pstats.Stats(str(profile_path)))
    whole = sum(totals.values())
    controller = sum(seconds for name, seconds in totals.items() if not name.startswith("harness"))
    document: dict[str, Any] = {
        "kind": "controller-profile",
        "command": " ".join(["python", "bench/controller_profile.py", *sys.argv[1:]]),
        "machine": runner.describe_machine(),
        "round": row,
        "main_thread_cpu_seconds": round(whole, 2),
        "share_of_the_controller": {
            name: round(seconds / controller, 3)
            for name, seconds in sorted(totals.items(), key=lambda item: -item[1])
            if not name.startswith("harness")
        },
        "harness_share_of_the_thread": round((whole - controller) / whole, 3),
        "note": "own time by cProfile on the main thread's CPU clock, from the first request "
        "to the last call's end; the profiler's cost inflates the Python shares, so they are "
        "upper bounds; the round's CPU a call includes the profiler's",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"controller-profile-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(document, indent=1))
    print(json.dumps({k: v for k, v in document.items() if k != "machine"}, indent=1))
    print(path)


if __name__ == "__main__":
    main()
