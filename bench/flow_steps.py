"""Flow interpreter throughput: steps per second in simulation (no SIP, no I/O per step).

Runs every example flow in flows/ through engine.flow.simulate (quiet) over and over, and a
tight set/branch loop that never waits.

    .venv/bin/python bench/flow_steps.py [--seconds 3] [--baseline]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import baseline  # noqa: E402
from engine.flow.events import SessionFacts  # noqa: E402
from engine.flow.loader import load_flow  # noqa: E402
from engine.flow.machine import FlowRun  # noqa: E402
from engine.flow.registry import FlowRegistry  # noqa: E402
from engine.flow.simulate import Script, simulate  # noqa: E402
from engine.tools.loadtest.runner import describe_machine  # noqa: E402

FACTS = SessionFacts("bench", "loop", "+12025550100", "+12025550143", "2024-01-01T00:00:00Z")
LOOP = """\
name: loop
variables: {n: 0}
start: count
steps:
  count: {type: set, variables: {n: "{{ n | int + 1 }}"}, next: check}
  check:
    type: branch
    conditions: [{variable: n, less_than: 1000000, goto: count}]
"""


def bench_simulated_flows(seconds: float) -> dict[str, float]:
    registry = FlowRegistry(ROOT / "flows")
    registry.load_all()
    flows = [registry.get(flow_id) for flow_id in registry.ids()]
    script = Script(digits="1", webhook_response={"ok": True})
    steps = runs = 0
    begin = time.perf_counter()
    while time.perf_counter() - begin < seconds:
        for flow in flows:
            steps += simulate(flow, script, registry.get, quiet=True).steps
            runs += 1
    elapsed = time.perf_counter() - begin
    return {"steps": steps, "runs": runs, "seconds": elapsed, "steps_per_second": steps / elapsed}


def bench_tight_loop(tmp: Path, steps: int) -> dict[str, float]:
    path = tmp / "loop.yaml"
    path.write_text(LOOP)
    flow = load_flow(path)
    run = FlowRun(flow, FACTS, max_steps_without_wait=steps)
    begin = time.perf_counter()
    commands = run.start(0.0)
    elapsed = time.perf_counter() - begin
    assert run.finished and commands[-2].result == "error"  # type: ignore[union-attr]
    return {"steps": steps, "seconds": elapsed, "steps_per_second": steps / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="write the result to bench/results/ as the new baseline",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loop = bench_tight_loop(Path(tmp), 200_000)
    simulated = bench_simulated_flows(args.seconds)
    rows = [{"case": "simulated example flows", **simulated}, {"case": "set/branch loop", **loop}]
    summary = {
        "simulated_example_flows_steps_per_second": round(simulated["steps_per_second"]),
        "set_branch_loop_steps_per_second": round(loop["steps_per_second"]),
    }
    command = baseline.command_line("bench/flow_steps.py", sys.argv[1:])
    result = baseline.record("flow-steps", command, describe_machine(), rows, summary)
    print(
        f"simulated example flows: {simulated['steps_per_second']:,.0f} steps/s "
        f"({simulated['runs']} runs); set/branch loop: {loop['steps_per_second']:,.0f} steps/s"
    )
    print(baseline.save(result, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
