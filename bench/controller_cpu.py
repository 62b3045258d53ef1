"""The controller's CPU a call, alone: the engine in this process, its workers `fake_worker.py`.

The rate bench's engine shares two cores with a hundred pjsua2 processes and SIPp, so what its
controller costs a call moves with their load and the VM's speed. Here the workers speak the
same IPC without SIP or media, and the load comes over HTTP from another process as in the
rate bench (`engine.tools.loadtest.runner.run_load`, flow `loadtest-3s`): the engine process's CPU a
call is the controller's, measured on a machine that is mostly idle. Each round records the
speed probe beside it, and the engine's CPU over the load client's, whose work a call is the
same whatever the engine's revision: rounds at one probe differed by a fifth on the nineteenth
VM, the client with them, and that ratio by less (docs/field-notes.md, 2026-12-06). Compare
revisions by rounds taken alternately on one machine.

    python bench/controller_cpu.py [--rate 100] [--seconds 30] [--rounds 3] [--no-save]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_bench import (  # noqa: E402
    RESULTS,
    WORK,
    rate_config,
    speed_probe_ms,
    workers_for,
)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-save", action="store_true", help="print the rows, write no file")
    args = parser.parse_args()
    rows = []
    for index in range(args.rounds):
        row = uvloop.run(one_round(args.rate, args.seconds, WORK / f"controller-cpu-{index}"))
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.no_save:
        return
    document = {
        "kind": "controller-cpu",
        "command": " ".join(["python", "bench/controller_cpu.py", *sys.argv[1:]]),
        "machine": describe_machine(),
        "rows": rows,
        "engine_ms_a_call_median": statistics.median(r["engine_ms_a_call"] for r in rows),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"controller-cpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(document, indent=1))
    print(path)


if __name__ == "__main__":
    main()
