"""The controller's CPU a call, alone: the engine in this process, its workers `fake_worker.py`.

The workers speak the real IPC without SIP or media, and the load comes over HTTP from another
process as in the rate bench (`engine.tools.loadtest.runner.run_load`, flow `loadtest-3s`), so
the engine process's CPU a call is the controller's own. Each round records the speed probe
and the engine's CPU over the load client's, whose work a call does not depend on the engine's
revision and so steadies a comparison on a VM whose speed drifts. Compare revisions with
`bench/compare.py`, which runs each side's rounds alternately.

    python bench/controller_cpu.py [--rate 100] [--seconds 30] [--rounds 3] [--no-save]
        [--baseline]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baseline  # noqa: E402
from bench.compare import COMPARED, median_of  # noqa: E402
from bench.load_bench import WORK, rate_config, speed_probe_ms, workers_for  # noqa: E402
from engine.tools.loadtest.runner import LoadOptions, describe_machine, run_load  # noqa: E402
from engine.tools.sipp.ports import free_udp_port  # noqa: E402

FAKE_WORKER = (sys.executable, str(ROOT / "bench" / "fake_worker.py"))


async def one_round(rate: float, seconds: float, out: Path) -> dict[str, Any]:
    config = rate_config(rate)
    workers_config = config.workers.model_copy(update={"command": list(FAKE_WORKER)})
    config = config.model_copy(update={"workers": workers_config})
    workers = workers_for(rate)
    calls = round(rate * seconds)
    options = LoadOptions(
        rate=rate,
        calls=calls,
        flow_id="loadtest-3s",
        out_dir=out,
        callee_port=free_udp_port(),
        min_workers=workers,
        max_workers=workers,
        progress=False,
        final_wait=30,
    )
    probe = speed_probe_ms()
    summary = await run_load(config, options)
    resources = summary["resources"]
    placed = summary["achieved_rate"]
    return {
        "speed_probe_ms": probe,
        "calls": calls,
        "completed": summary["completed"],
        "failed": summary["failed"],
        "achieved_rate": placed,
        "engine_cores": resources["engine"]["cores_mean"],
        "engine_ms_a_call": round(resources["engine"]["cores_mean"] * 1000 / placed, 3),
        "load_client_ms_a_call": round(resources["load_client"]["cores_mean"] * 1000 / placed, 3),
        "engine_over_load_client": round(
            resources["engine"]["cores_mean"] / resources["load_client"]["cores_mean"], 2
        ),
        "fake_workers_cores": resources["workers"]["cores_mean"],
        "machine_cores_mean": summary["machine_cores_mean"],
        "api_to_invite_p99_ms": summary["api_to_invite"]["p99_ms"],
    }


def summarize(rows: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    """The rounds' medians: what docs/performance.md cites and bench/compare.py compares."""
    return {
        "rate": rate,
        "seconds": seconds,
        "rounds": len(rows),
        **{f"{key}_median": median_of(rows, key) for key in COMPARED},
        "load_client_ms_a_call_median": median_of(rows, "load_client_ms_a_call"),
        "speed_probe_ms_median": median_of(rows, "speed_probe_ms"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-save", action="store_true", help="print the rows, write no file")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="write the result to bench/results/ as the new baseline",
    )
    args = parser.parse_args()
    rows = []
    for index in range(args.rounds):
        row = uvloop.run(one_round(args.rate, args.seconds, WORK / f"controller-cpu-{index}"))
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.no_save:
        return
    result = baseline.record(
        "controller-cpu",
        baseline.command_line("bench/controller_cpu.py", sys.argv[1:]),
        describe_machine(),
        rows,
        summarize(rows, args.rate, args.seconds),
    )
    print(baseline.save(result, args.baseline))


if __name__ == "__main__":
    main()
